"""Testing an agent: one question through the chat pipeline, the answer as a task result."""
