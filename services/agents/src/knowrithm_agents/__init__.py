"""Knowrithm agents service."""
