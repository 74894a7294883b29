"""Company analytics: dashboard, agents, conversations, leads, platform usage, company statistics."""
