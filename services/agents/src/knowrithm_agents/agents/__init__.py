"""Agents: identity, behaviour, widget, and which settings they run with."""
