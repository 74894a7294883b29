"""Knowrithm auth service."""
