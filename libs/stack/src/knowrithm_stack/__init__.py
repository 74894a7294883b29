"""Embedded stack and process supervisor."""
