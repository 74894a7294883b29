"""An agent's `widget_config.allowed_origins`: the sites its widget may run on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def origin_listed(widget_config: Mapping[str, Any] | None, origin: str) -> bool | None:
    """Whether `origin` is in the agent's allowed origins ("*" allows any); None when no list is set.

    A malformed setting (not a list) allows nothing. Origins compare without case or a trailing slash.
    """
    allowed = (widget_config or {}).get("allowed_origins")
    if not allowed:
        return None
    if not isinstance(allowed, list):
        return False
    wanted = {str(o).strip().rstrip("/").lower() for o in allowed}
    return "*" in wanted or origin.strip().rstrip("/").lower() in wanted
