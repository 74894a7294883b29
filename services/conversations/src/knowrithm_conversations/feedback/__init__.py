"""Feedback on the agent's answers and on whole conversations: a rating, thumbs, a comment."""
