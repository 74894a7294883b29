"""Conversations and their messages: create, list, read, soft delete and restore."""
