"""Knowrithm conversations service."""
