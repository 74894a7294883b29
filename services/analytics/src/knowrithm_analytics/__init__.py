"""Knowrithm analytics service."""
