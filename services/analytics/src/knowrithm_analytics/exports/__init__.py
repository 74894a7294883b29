"""Exports of conversations, leads, agents or usage as CSV or JSON (large ones as a task)."""
