"""Text-to-SQL: a question in words becomes one guarded, read-only query of a company's database,
written by the agent's language model from the tables most related to the question."""
