"""The audit-log browser."""
