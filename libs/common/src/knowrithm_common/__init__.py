"""Shared building blocks for every Knowrithm service."""
