"""Knowrithm ingestion service."""
