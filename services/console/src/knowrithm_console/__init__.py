"""Knowrithm's web console: server-rendered pages over the public API (docs/console.md)."""
