"""Database connections: per company and agent, the URL encrypted at rest and never returned whole."""
