"""The route table: which upstream owns each public path (DESIGN §2), longest prefix wins.

Patterns match whole path segments: `/api/v1/agent` owns `/api/v1/agent` and everything
below it, not `/api/v1/agents`. A `{name}` segment matches any one segment. The pattern is
also the metrics label of the requests it routes, which keeps label cardinality bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

TASKS = "tasks"  # pseudo-service: the gateway fans the request out to every task owner
PLATFORM_HEALTH = "platform-health"  # pseudo-service (lane platform): the gateway answers it itself
GATEWAY_ANSWERED = (TASKS, PLATFORM_HEALTH)  # pseudo-services: no upstream of their own
TASK_OWNERS = ("auth", "agents", "conversations", "ingestion", "analytics")
API_PREFIX = "/api/"
WIDGET_SCRIPT = "/widget.js"  # the embed code's script: the one public path outside API_PREFIX

# (pattern, owning service, exact). Exact patterns do not own the paths below them.
ROUTES: tuple[tuple[str, str, bool], ...] = (
    # auth. `send`, `verify` and `address-seed` come from the seed's endpoint catalogue.
    ("/api/v1/auth", "auth", False),
    ("/api/v1/user", "auth", False),
    ("/api/v1/admin/user", "auth", False),
    ("/api/v1/super-admin/company", "auth", False),
    ("/api/v1/company", "auth", False),
    ("/api/v1/address", "auth", False),
    ("/api/v1/address-seed", "auth", False),
    ("/api/v1/country", "auth", False),
    ("/api/v1/state", "auth", False),
    ("/api/v1/city", "auth", False),
    ("/api/v1/config", "auth", True),
    ("/api/v1/send", "auth", True),
    ("/api/v1/verify", "auth", True),
    # agents. `sdk/settings` is in the public spec; settings belong to agents.
    ("/api/v1/agent", "agents", False),
    ("/api/v1/sdk/agent", "agents", False),
    ("/api/v1/settings", "agents", False),
    ("/api/v1/sdk/settings", "agents", False),
    ("/api/v1/providers", "agents", False),
    # An agent's test runs in conversations (the chat pipeline); `by-name` stays with agents
    # even for an agent named "test".
    ("/api/v1/agent/{agent_id}/test", "conversations", True),
    ("/api/v1/agent/by-name", "agents", False),
    # conversations
    ("/api/v1/conversation", "conversations", False),
    ("/api/v1/message", "conversations", False),
    ("/api/v1/lead", "conversations", False),
    ("/api/v1/sdk/lead", "conversations", False),
    ("/api/v1/test", "conversations", False),
    (WIDGET_SCRIPT, "conversations", True),
    ("/api/v1/widget.js", "conversations", True),  # where the official SDK asks for the script
    ("/api/v1/widget", "conversations", False),
    # ingestion
    ("/api/v1/document", "ingestion", False),
    ("/api/v1/search", "ingestion", False),
    ("/api/v1/website", "ingestion", False),
    ("/api/v1/sdk/website", "ingestion", False),
    ("/api/v1/database-connection", "ingestion", False),
    ("/api/v1/sdk/database", "ingestion", False),
    # analytics
    ("/api/v1/super-admin/company/{company_id}/system-metric", "analytics", False),
    ("/api/v1/analytic", "analytics", False),
    ("/api/v1/overview", "analytics", False),
    ("/api/v1/usage-trends", "analytics", False),
    ("/api/v1/top-endpoints", "analytics", False),
    ("/api/v1/api-key-performance", "analytics", False),
    ("/api/v1/error-analysis", "analytics", False),
    ("/api/v1/rate-limit-analysis", "analytics", False),
    ("/api/v1/detailed-usage", "analytics", False),
    ("/api/v1/system-metric", "analytics", False),
    ("/api/v1/admin/system-metric", "analytics", False),
    ("/api/v1/audit-log", "analytics", False),
    ("/api/v1/webhook", "analytics", False),
    ("/api/v1/events", "analytics", False),  # the live event stream (lane webhooks)
    # lead statistics and an agent's stats are read from analytics' projections
    ("/api/v1/company/statistics", "analytics", True),
    ("/api/v1/company/{company_id}/statistics", "analytics", True),
    ("/api/v1/agent/{agent_id}/stats", "analytics", True),
    # the gateway's own fan-out
    ("/api/v1/tasks/{task_id}/status", TASKS, True),
    # (lane platform) every process's health for super admins, asked by the gateway itself
    ("/api/v1/super-admin/health", PLATFORM_HEALTH, True),
)


@dataclass(frozen=True, slots=True)
class Route:
    """A matched route: the owning service and the pattern that matched."""

    service: str
    template: str


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    wildcard: _Node | None = None
    prefix: Route | None = None
    exact: Route | None = None


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


class RouteTable:
    """A segment trie over the patterns; `match` returns the longest matching pattern."""

    def __init__(self, routes: Iterable[tuple[str, str, bool]] = ROUTES) -> None:
        self._root = _Node()
        for pattern, service, exact in routes:
            self._add(pattern, Route(service, pattern), exact=exact)

    def _add(self, pattern: str, route: Route, *, exact: bool) -> None:
        node = self._root
        for segment in _segments(pattern):
            if segment.startswith("{") and segment.endswith("}"):
                node.wildcard = node.wildcard or _Node()
                node = node.wildcard
            else:
                node = node.children.setdefault(segment, _Node())
        if exact:
            node.exact = route
        else:
            node.prefix = route

    def match(self, path: str) -> Route | None:
        """The route owning `path`, or None when no pattern covers it."""
        return _walk(self._root, _segments(path), 0)

    def services(self) -> set[str]:
        """Every service named in the table (the pseudo-services excluded)."""
        found: set[str] = set()
        stack = [self._root]
        while stack:
            node = stack.pop()
            found.update(r.service for r in (node.prefix, node.exact) if r is not None)
            stack.extend(node.children.values())
            if node.wildcard is not None:
                stack.append(node.wildcard)
        found.difference_update(GATEWAY_ANSWERED)
        return found


def _walk(node: _Node, segments: list[str], index: int) -> Route | None:
    if index == len(segments):
        return node.exact or node.prefix
    # A literal child beats the wildcard; a deeper match beats this node's prefix.
    found = None
    child = node.children.get(segments[index])
    if child is not None:
        found = _walk(child, segments, index + 1)
    if found is None and node.wildcard is not None:
        found = _walk(node.wildcard, segments, index + 1)
    return found or node.prefix
