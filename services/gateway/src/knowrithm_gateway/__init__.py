"""Knowrithm gateway service."""
