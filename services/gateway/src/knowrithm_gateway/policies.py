"""Who may call what: one declared policy per operation (method + path template).

The gateway enforces these before forwarding; services still check what only they can see
(ownership, company scoping). Deny by default: a routed request that matches no declared
operation needs credentials (a user's token or an API key holding the method's scope).

- PUBLIC: no credentials needed; credentials sent anyway are still verified.
- AUTHENTICATED: a user's access token or an API key; 401 without.
- USER: a user's access token only; an API key gets 403 `api_key_not_allowed`.

`roles` narrows any of them (403 `insufficient_role`); API keys also need `scope` (by default
the method's, see `method_scope`) on the operation's resource (403 `insufficient_scope`).

Lead tokens (a widget visitor's) may call PUBLIC operations and, beyond those, only the
operations that declare `lead=True` (roles and scopes do not apply to them); any other
operation, undeclared ones included, answers a lead 403 `lead_not_allowed`.
A literal segment beats a `{param}` segment, so `/company/deleted` is not `/company/{id}`.

The table is data: each `declare(access, **policy, table=...)` states one policy once, for the
`METHOD /path` rows under it. tests/test_gateway_policies_match_routes.py holds it to the
services' routes: a route without a policy, or a policy without a route, fails it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from knowrithm_common.identity import Role, method_scope
from knowrithm_gateway.routing import WIDGET_SCRIPT, RouteTable

V1 = "/api/v1"


class Access(StrEnum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    USER = "user"


DEFAULT_RATE, AUTH_RATE = "default", "auth"
# Declared operations take JSON (or small forms): a megabyte is plenty. Operations that take
# uploads declare `max_body=None` and get the upload limit: the `max_file_size` configuration
# entry plus 5 MiB of framing while there is one, else GATEWAY_MAX_BODY_BYTES (overrides.py).
JSON_BODY_BYTES = 1024 * 1024

# The resource a per-resource API-key scope names (`documents:write`), by path prefix under
# /api/v1: a resource, then its prefixes (a resource may take several rows). The longest prefix
# wins, as in the route table.
RESOURCES = """
    auth           /auth /send /verify
    api-keys       /auth/api-keys
    users          /auth/user /user /admin/user
    companies      /company /super-admin/company
    addresses      /address /address-seed
    countries      /country
    states         /state
    cities         /city
    config         /config
    agents         /agent /sdk/agent
    settings       /settings /sdk/settings
    providers      /providers
    conversations  /conversation /test
    messages       /message
    leads          /lead /sdk/lead
    widget         /widget.js /widget
    documents      /document /search
    databases      /search/database /database-connection /sdk/database
    websites       /website /sdk/website
    analytics      /analytic /overview /usage-trends /top-endpoints /api-key-performance /error-analysis
    analytics      /rate-limit-analysis /detailed-usage /system-metric /admin/system-metric
    analytics      /super-admin/company/{company_id}/system-metric /agent/{agent_id}/stats
    analytics      /company/statistics /company/{company_id}/statistics
    audit-logs     /audit-log
    webhooks       /webhook
    events         /events
    tasks          /tasks
    platform       /super-admin/health
"""


def rows(table: str) -> list[list[str]]:
    """The words of each non-blank row of a text table."""
    return [line.split() for line in table.splitlines() if line.strip()]


_RESOURCES = RouteTable([
    (WIDGET_SCRIPT, "widget", False),
    *((V1 + prefix, resource, False) for resource, *prefixes in rows(RESOURCES) for prefix in prefixes),
])
_PARAM = re.compile(r"\{([a-z_]+)\}")


def resource_of(path: str) -> str | None:
    """The resource a path (or template) belongs to, for per-resource scopes."""
    match = _RESOURCES.match(path)
    return match.service if match else None


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation's policy. `template` is also its metrics and usage route label."""

    method: str
    template: str
    access: Access
    roles: frozenset[Role] | None = None
    scope: str = ""  # what an API key needs; empty means the method's (`method_scope`)
    rate: str = DEFAULT_RATE
    per_caller_per_minute: int = 0  # the operation's own limit per user or API key (0: none)
    opaque_bearer: bool = False  # Authorization carries a refresh token: forward, never verify
    tenant_scoped: bool = True  # False for global reference data (countries, ...)
    max_body: int | None = None  # request body limit; None means the gateway-wide one
    lead: bool = False  # a lead token (widget visitor) may call it too
    declared: bool = True
    resource: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.lead and self.access is Access.USER:
            raise ValueError(f"{self.method} {self.template}: a USER operation cannot admit leads")
        if not self.scope:
            object.__setattr__(self, "scope", method_scope(self.method))
        if self.resource is None:
            object.__setattr__(self, "resource", resource_of(self.template))

    @property
    def path_params(self) -> tuple[str, ...]:
        """The `{name}` parameters of the template, in order."""
        return tuple(_PARAM.findall(self.template))


def declare(
    access: Access, *, table: str, roles: Iterable[Role] | None = None,
    max_body: int | None = JSON_BODY_BYTES, prefix: str = V1, **policy: Any,
) -> tuple[Operation, ...]:
    """The operations of a `METHOD /path` table (paths under `prefix`), all under one policy.

    Declared operations take JSON bodies (`JSON_BODY_BYTES`) unless they say `max_body=None`.
    """
    granted = frozenset(roles) if roles is not None else None
    operations = []
    for row in rows(table):
        if len(row) != 2 or not row[1].startswith("/"):
            raise ValueError(f"not a 'METHOD /path' row: {' '.join(row)!r}")
        method, path = row
        operations.append(
            Operation(method, prefix + path, access, roles=granted, max_body=max_body, **policy)
        )
    return tuple(operations)


PUBLIC, AUTHENTICATED, USER = Access.PUBLIC, Access.AUTHENTICATED, Access.USER
SUPER_ADMIN = (Role.SUPER_ADMIN,)
ADMINS = (Role.ADMIN, Role.SUPER_ADMIN)

OPERATIONS: tuple[Operation, ...] = (
    # --- auth: public credential routes, limited per client IP in the stricter "auth" class
    *declare(PUBLIC, rate=AUTH_RATE, table="""
        POST /company
        POST /auth/register
        POST /auth/login
        POST /send
        POST /verify
        POST /auth/forgot-password
        POST /auth/reset-password
        GET  /auth/super-admin
        GET  /address-seed
    """),
    *declare(PUBLIC, rate=AUTH_RATE, opaque_bearer=True, table="POST /auth/refresh"),
    # --- auth: a company's uploaded logo, shown wherever the company is (widgets, consoles)
    *declare(PUBLIC, tenant_scoped=False, table="GET /company/{company_id}/logo"),
    # --- auth: geographic reference data, the same for every tenant
    *declare(PUBLIC, tenant_scoped=False, table="""
        GET /country
        GET /country/{country_id}
        GET /state/country/{country_id}
        GET /state/{state_id}
        GET /city/state/{state_id}
        GET /city/{city_id}
    """),
    *declare(USER, roles=SUPER_ADMIN, tenant_scoped=False, table="""
        POST  /country
        PATCH /country/{country_id}
        POST  /state
        PATCH /state/{state_id}
        POST  /city
        PATCH /city/{city_id}
    """),
    # --- auth: a user's own sessions and keys (an API key cannot mint or revoke keys)
    *declare(USER, table="""
        GET    /auth/api-keys
        POST   /auth/api-keys
        DELETE /auth/api-keys/{api_key_id}
        POST   /auth/logout
    """),
    *declare(USER, roles=SUPER_ADMIN, table="POST /user/{user_id}/impersonate"),
    # --- auth: the caller's account, company and addresses
    *declare(AUTHENTICATED, table="""
        GET  /auth/validate
        GET  /auth/user/me
        GET  /user/profile
        PUT  /user/profile
        GET  /user/{user_id}
        GET  /company
        GET  /address
        POST /address
    """),
    # --- auth: company administration
    *declare(AUTHENTICATED, roles=ADMINS, scope="admin", table="""
        POST  /auth/user
        GET   /admin/user
        GET   /admin/user/{user_id}
        PATCH /user/{user_id}/status
        PATCH /user/{user_id}/role
        POST  /user/{user_id}/force-password-reset
        PUT   /company/{company_id}
        PATCH /company/{company_id}
    """),
    # --- auth (lane keys): a user's sign-in sessions, listed and signed out by the company's admins
    *declare(AUTHENTICATED, roles=ADMINS, scope="admin", table="""
        GET    /admin/user/{user_id}/sessions
        DELETE /admin/user/{user_id}/sessions/{session_id}
    """),
    # --- auth: platform administration
    *declare(AUTHENTICATED, roles=SUPER_ADMIN, table="""
        GET    /super-admin/company
        GET    /super-admin/company/{company_id}/user
        DELETE /company/{company_id}
        PATCH  /company/{company_id}/restore
        GET    /company/deleted
        DELETE /company/bulk-delete
        PATCH  /company/bulk-restore
        GET    /company/{company_id}/related-data
        DELETE /company/{company_id}/cascade-delete
    """),
    # --- auth: the platform's system configuration (admins read it, sensitive values masked)
    *declare(AUTHENTICATED, roles=ADMINS, scope="admin", tenant_scoped=False, table="GET /config"),
    *declare(USER, roles=SUPER_ADMIN, tenant_scoped=False, table="PATCH /config"),
    # --- agents: the providers and models catalogue, the same for every tenant
    *declare(AUTHENTICATED, tenant_scoped=False, table="""
        GET /providers
        GET /providers/{provider_id}
        GET /providers/{provider_id}/models
        GET /providers/{provider_id}/models/{model_id}
        GET /settings/providers
    """),
    *declare(USER, roles=SUPER_ADMIN, tenant_scoped=False, table="""
        POST   /providers
        POST   /providers/bulk-import
        PUT    /providers/{provider_id}
        DELETE /providers/{provider_id}
        POST   /providers/{provider_id}/models
        PUT    /providers/{provider_id}/models/{model_id}
        DELETE /providers/{provider_id}/models/{model_id}
        POST   /settings/providers/seed
    """),
    # --- agents: the company's agents (the widget's public reads come with the widget)
    *declare(AUTHENTICATED, table="""
        GET /agent
        GET /agent/by-name/{name}
        GET /agent/{agent_id}
        GET /agent/{agent_id}/embed-code
    """),
    *declare(AUTHENTICATED, roles=ADMINS, table="""
        GET    /agent/deleted
        POST   /agent
        PUT    /agent/{agent_id}
        DELETE /agent/{agent_id}
        PATCH  /agent/{agent_id}/restore
        POST   /agent/{agent_id}/clone
        POST   /sdk/agent
        PUT    /sdk/agent/{agent_id}
        DELETE /sdk/agent/{agent_id}
    """),
    # --- agents: LLM and embedding settings of a company or an agent
    *declare(AUTHENTICATED, table="""
        GET /settings/company/{company_id}
        GET /settings/agent/{agent_id}
        GET /settings/{settings_id}
    """),
    *declare(AUTHENTICATED, roles=ADMINS, table="""
        POST   /settings
        POST   /sdk/settings
        PUT    /settings/{settings_id}
        DELETE /settings/{settings_id}
        POST   /settings/test/{settings_id}
    """),
    # --- ingestion: documents and chunks (uploads take the upload body limit)
    *declare(AUTHENTICATED, roles=ADMINS, max_body=None, table="POST /document/upload"),
    *declare(AUTHENTICATED, table="""
        GET /document
        GET /document/agent/{agent_id}
        GET /document/deleted
        GET /document/chunk/deleted
        GET /document/{document_id}
        GET /document/{document_id}/chunk
    """),
    *declare(AUTHENTICATED, roles=ADMINS, table="""
        DELETE /document/bulk-delete
        DELETE /document/{document_id}
        PATCH  /document/{document_id}/restore
        POST   /document/{document_id}/retry
        DELETE /document/{document_id}/chunk
        PATCH  /document/{document_id}/chunk/restore-all
        DELETE /document/chunk/{chunk_id}
        PATCH  /document/chunk/{chunk_id}/restore
    """),
    # --- (lane timeline) ingestion: one chunk, a document's processing history (members read),
    # reprocessing a processed or failed document (admins)
    *declare(AUTHENTICATED, table="""
        GET /document/chunk/{chunk_id}
        GET /document/{document_id}/history
    """),
    *declare(AUTHENTICATED, roles=ADMINS, table="POST /document/{document_id}/reprocess"),
    # --- ingestion: search (a read, whatever the method)
    *declare(AUTHENTICATED, scope="read", table="POST /search/document"),
    # --- ingestion: SQL or a question on the company's own databases (members; API keys `write`)
    # (the contract's 429: 30 per minute per caller, each search may fan out to every connection)
    *declare(AUTHENTICATED, scope="write", per_caller_per_minute=30, table="POST /search/database"),
    # --- ingestion: web sites; the widget's handshake is public (the agent's allowed origins decide)
    *declare(AUTHENTICATED, table="""
        GET /website/source
        GET /website/agent/{agent_id}/sources
        GET /website/source/{source_id}/pages
    """),
    *declare(AUTHENTICATED, roles=ADMINS, table="""
        POST   /website/source
        POST   /website/source/{source_id}/crawl
        DELETE /website/source/{source_id}
        POST   /sdk/website/source/{source_id}/crawl
        DELETE /sdk/website/source/{source_id}
    """),
    *declare(PUBLIC, table="POST /website/handshake"),
    # --- ingestion: companies' own databases (creation may carry a SQLite file: the upload limit)
    *declare(AUTHENTICATED, table="""
        GET /database-connection
        GET /database-connection/agent/{agent_id}
        GET /database-connection/deleted
        GET /database-connection/{connection_id}
    """),
    # --- ingestion: what a connection's tables mean (lane snapshot)
    *declare(AUTHENTICATED, table="""
        GET /database-connection/{connection_id}/semantic-snapshot
        GET /database-connection/{connection_id}/knowledge-graph
    """),
    # --- ingestion: sample queries of a connection, run before they are offered (lane samples)
    *declare(AUTHENTICATED, table="""
        GET /database-connection/{connection_id}/sample-queries
    """),
    # (lane t2s) a question becomes one guarded query by the agent's LLM: a read, whatever the method
    *declare(AUTHENTICATED, scope="read", table="POST /database-connection/{connection_id}/text-to-sql"),
    *declare(AUTHENTICATED, roles=ADMINS, max_body=None, table="""
        POST /database-connection
        POST /sdk/database
    """),
    *declare(AUTHENTICATED, roles=ADMINS, table="POST /database-connection/{connection_id}/test"),
    *declare(AUTHENTICATED, roles=ADMINS, table="""
        PUT    /database-connection/{connection_id}
        PATCH  /database-connection/{connection_id}
        DELETE /database-connection/{connection_id}
        PATCH  /database-connection/{connection_id}/restore
        PUT    /sdk/database/{connection_id}
        DELETE /sdk/database/{connection_id}
    """),
    # (lane export) tables into documents: a job with a task
    *declare(AUTHENTICATED, roles=ADMINS, table="POST /database-connection/export"),
    # --- ingestion: analyses of companies' databases and the tables' metadata they store
    *declare(AUTHENTICATED, table="""
        GET /database-connection/{connection_id}/table
        GET /database-connection/table/deleted
        GET /database-connection/table/{table_id}
    """),
    *declare(AUTHENTICATED, roles=ADMINS, table="""
        POST   /database-connection/analyze
        POST   /database-connection/{connection_id}/analyze
        DELETE /database-connection/{connection_id}/table
        DELETE /database-connection/table/{table_id}
        PATCH  /database-connection/table/{table_id}/restore
    """),
    # --- conversations and messages (the service scopes each to its owner, or the company's admins;
    # a lead token reaches only its own conversations, through the operations marked lead=True)
    *declare(AUTHENTICATED, lead=True, table="""
        POST /conversation
        GET  /conversation/entity
        GET  /conversation/{conversation_id}
        GET  /conversation/{conversation_id}/messages
        GET  /conversation/{conversation_id}/messages/stream
        POST /conversation/{conversation_id}/chat
    """),
    *declare(AUTHENTICATED, table="""
        GET    /conversation
        GET    /conversation/entity/{entity_id}
        GET    /conversation/agent/{agent_id}
        GET    /conversation/deleted
        DELETE /conversation/{conversation_id}
        PATCH  /conversation/{conversation_id}/restore
        DELETE /conversation/{conversation_id}/messages
        PATCH  /conversation/{conversation_id}/message/restore-all
        GET    /message/deleted
        DELETE /message/{message_id}
        PATCH  /message/{message_id}/restore
    """),
    # (lane gaps) the conversations export (whoever lists conversations; the service scopes it) and
    # the knowledge gaps (admins, their company's)
    *declare(AUTHENTICATED, scope="read", table="GET /conversation/export"),
    *declare(AUTHENTICATED, roles=ADMINS, table="GET /conversation/knowledge-gaps"),
    # --- feedback on an answer or a conversation (whoever sees it, leads too); members list it
    *declare(AUTHENTICATED, lead=True, table="""
        POST /message/{message_id}/feedback
        POST /conversation/{conversation_id}/feedback
    """),
    *declare(AUTHENTICATED, table="GET /conversation/{conversation_id}/feedback"),
    # --- leads: the widget registers visitors (public, limited per client IP like any anonymous
    # caller); members read the company's leads, admins change, export (GDPR) and erase them
    *declare(PUBLIC, table="POST /lead/register"),
    *declare(AUTHENTICATED, table="""
        GET /lead/company
        GET /lead/{lead_id}
    """),
    *declare(AUTHENTICATED, roles=ADMINS, table="""
        POST   /lead
        PUT    /lead/{lead_id}
        DELETE /lead/{lead_id}
        GET    /lead/{lead_id}/export
        DELETE /lead/{lead_id}/data
        POST   /sdk/lead
        PUT    /sdk/lead/{lead_id}
        DELETE /sdk/lead/{lead_id}
    """),
    # --- analytics: company analytics for members (a user sees their own, the service decides);
    # exports, API-key analytics, system metrics and the audit log for admins
    *declare(AUTHENTICATED, table="""
        GET /analytic/dashboard
        GET /analytic/agent/{agent_id}
        GET /analytic/agent/{agent_id}/performance-comparison
        GET /analytic/conversation/{conversation_id}
        GET /analytic/leads
        GET /analytic/usage
        GET /company/statistics
        GET /company/{company_id}/statistics
        GET /agent/{agent_id}/stats
    """),
    *declare(AUTHENTICATED, roles=ADMINS, scope="read", table="POST /analytic/export"),
    # --- analytics lane (issue 17): the console's daily trends and agents side by side; members
    # read them like the dashboard (admins: the company, users: their own, the service decides)
    *declare(AUTHENTICATED, table="""
        GET /analytic/trends
        GET /analytic/agents
    """),
    *declare(AUTHENTICATED, roles=ADMINS, table="""
        GET /analytic/export/{export_id}/download
        GET /overview
        GET /usage-trends
        GET /top-endpoints
        GET /api-key-performance
        GET /error-analysis
        GET /rate-limit-analysis
        GET /detailed-usage/{api_key_id}
    """),
    *declare(AUTHENTICATED, roles=ADMINS, scope="admin", table="""
        GET  /admin/system-metric
        GET  /super-admin/company/{company_id}/system-metric
        POST /system-metric
        GET  /audit-log
    """),
    # --- webhooks (outgoing event subscriptions) are the company admins'
    *declare(AUTHENTICATED, table="GET /webhook/event-types"),
    *declare(AUTHENTICATED, roles=ADMINS, table="""
        GET    /webhook
        POST   /webhook
        GET    /webhook/{webhook_id}
        PATCH  /webhook/{webhook_id}
        DELETE /webhook/{webhook_id}
        GET    /webhook/{webhook_id}/deliveries
        POST   /webhook/{webhook_id}/deliveries/{delivery_id}/retry
        POST   /webhook/{webhook_id}/test
    """),
    *declare(AUTHENTICATED, roles=ADMINS, scope="admin", table="POST /webhook/{webhook_id}/rotate-secret"),
    # --- lane webhooks: a delivery's detail (the signed request, the answer); the live event
    # stream (SSE, like the conversation message stream: no flag of its own, the proxy streams)
    *declare(AUTHENTICATED, roles=ADMINS, table="""
        GET /webhook/{webhook_id}/deliveries/{delivery_id}
        GET /events/stream
    """),
    # --- the gateway's task-status fan-out (each service scopes tasks by company)
    *declare(AUTHENTICATED, table="GET /tasks/{task_id}/status"),
    # --- the widget script is public: at the root (the embed code's), and under /api/v1 (the SDK's)
    *declare(PUBLIC, tenant_scoped=False, prefix="", table=f"""
        GET {WIDGET_SCRIPT}
        GET {V1}{WIDGET_SCRIPT}
    """),
    # --- the chat widget (conversations): an agent's public widget settings; test pages that embed
    # the widget (made by admins, then public until they expire); an agent test runs one question
    # through the chat pipeline, its answer lands in a task
    *declare(PUBLIC, tenant_scoped=False, lead=True, table="GET /widget/agent/{agent_id}"),
    *declare(AUTHENTICATED, roles=ADMINS, table="POST /test"),
    *declare(PUBLIC, tenant_scoped=False, table="GET /test/page/{token}"),
    *declare(AUTHENTICATED, table="POST /agent/{agent_id}/test"),
    # --- lane platform: every process's health, answered by the gateway itself (platform_health.py);
    # for the platform's operators, signed in (the console's Platform health screen)
    *declare(USER, roles=SUPER_ADMIN, tenant_scoped=False, table="GET /super-admin/health"),
)


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    wildcard: _Node | None = None
    operations: dict[str, Operation] = field(default_factory=dict)


class OperationTable:
    """The declared operations, matched by method and path; undeclared ones get the default."""

    def __init__(self, operations: Iterable[Operation] = OPERATIONS) -> None:
        self._root = _Node()
        self._declared: list[Operation] = []
        for operation in operations:
            self._add(operation)
        self._defaults: dict[tuple[str, str], Operation] = {}

    def _add(self, operation: Operation) -> None:
        node = self._root
        for segment in operation.template.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("}"):
                node.wildcard = node.wildcard or _Node()
                node = node.wildcard
            else:
                node = node.children.setdefault(segment, _Node())
        if operation.method in node.operations:
            raise ValueError(f"{operation.method} {operation.template} is declared twice")
        node.operations[operation.method] = operation
        self._declared.append(operation)

    @property
    def declared(self) -> tuple[Operation, ...]:
        return tuple(self._declared)

    def match(self, method: str, path: str) -> Operation | None:
        """The declared operation for this request, or None."""
        lookup = "GET" if method == "HEAD" else method
        return _walk(self._root, path.strip("/").split("/"), 0, lookup)

    def policy(self, method: str, path: str, *, route_template: str) -> Operation:
        """The declared operation, else the default: credentials and the method's scope."""
        found = self.match(method, path)
        if found is not None:
            return found
        key = (method, route_template)
        default = self._defaults.get(key)
        if default is None:
            # Keyed by the route pattern, not the path: the set stays as small as the table.
            # Its resource comes from the path (`resource_of`), finer than the route pattern.
            default = Operation(method, route_template, Access.AUTHENTICATED, declared=False)
            if len(self._defaults) < 4096:  # methods are client-chosen strings
                self._defaults[key] = default
        return default


def _walk(node: _Node, segments: list[str], index: int, method: str) -> Operation | None:
    if index == len(segments):
        return node.operations.get(method)
    child = node.children.get(segments[index])
    if child is not None:
        found = _walk(child, segments, index + 1, method)
        if found is not None:
            return found
    if node.wildcard is not None:
        return _walk(node.wildcard, segments, index + 1, method)
    return None
