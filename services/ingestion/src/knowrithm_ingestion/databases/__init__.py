"""Companies' own databases: connections, engines, the SQL guard, analysis and queries."""
