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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from knowrithm_common.identity import Role, method_scope
from knowrithm_gateway.routing import RouteTable

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

# The resource a per-resource API-key scope names (`documents:write`), by path prefix; the
# longest prefix wins, as in the route table.
RESOURCES: tuple[tuple[str, str], ...] = (
    (f"{V1}/auth", "auth"),
    (f"{V1}/send", "auth"),
    (f"{V1}/verify", "auth"),
    (f"{V1}/auth/api-keys", "api-keys"),
    (f"{V1}/auth/user", "users"),
    (f"{V1}/user", "users"),
    (f"{V1}/admin/user", "users"),
    (f"{V1}/company", "companies"),
    (f"{V1}/super-admin/company", "companies"),
    (f"{V1}/address", "addresses"),
    (f"{V1}/address-seed", "addresses"),
    (f"{V1}/country", "countries"),
    (f"{V1}/state", "states"),
    (f"{V1}/city", "cities"),
    (f"{V1}/config", "config"),
    (f"{V1}/agent", "agents"),
    (f"{V1}/sdk/agent", "agents"),
    (f"{V1}/settings", "settings"),
    (f"{V1}/sdk/settings", "settings"),
    (f"{V1}/providers", "providers"),
    (f"{V1}/conversation", "conversations"),
    (f"{V1}/test", "conversations"),
    (f"{V1}/message", "messages"),
    (f"{V1}/lead", "leads"),
    (f"{V1}/sdk/lead", "leads"),
    ("/widget.js", "widget"),
    (f"{V1}/widget.js", "widget"),
    (f"{V1}/widget", "widget"),
    (f"{V1}/document", "documents"),
    (f"{V1}/search", "documents"),
    (f"{V1}/search/database", "databases"),
    (f"{V1}/website", "websites"),
    (f"{V1}/sdk/website", "websites"),
    (f"{V1}/database-connection", "databases"),
    (f"{V1}/sdk/database", "databases"),
    (f"{V1}/analytic", "analytics"),
    (f"{V1}/overview", "analytics"),
    (f"{V1}/usage-trends", "analytics"),
    (f"{V1}/top-endpoints", "analytics"),
    (f"{V1}/api-key-performance", "analytics"),
    (f"{V1}/error-analysis", "analytics"),
    (f"{V1}/rate-limit-analysis", "analytics"),
    (f"{V1}/detailed-usage", "analytics"),
    (f"{V1}/system-metric", "analytics"),
    (f"{V1}/admin/system-metric", "analytics"),
    (f"{V1}/super-admin/company/{{company_id}}/system-metric", "analytics"),
    (f"{V1}/audit-log", "audit-logs"),
    (f"{V1}/webhook", "webhooks"),
    (f"{V1}/company/statistics", "analytics"),
    (f"{V1}/company/{{company_id}}/statistics", "analytics"),
    (f"{V1}/agent/{{agent_id}}/stats", "analytics"),
    (f"{V1}/tasks", "tasks"),
)
_RESOURCES = RouteTable((prefix, name, False) for prefix, name in RESOURCES)
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


def _op(
    access: Access, method: str, path: str, *, roles: Iterable[Role] | None = None, scope: str = "",
    rate: str = DEFAULT_RATE, opaque_bearer: bool = False, tenant_scoped: bool = True,
    max_body: int | None = JSON_BODY_BYTES, lead: bool = False, root: bool = False,
) -> Operation:
    return Operation(
        method, path if root else V1 + path, access,
        roles=frozenset(roles) if roles is not None else None, scope=scope, rate=rate,
        opaque_bearer=opaque_bearer, tenant_scoped=tenant_scoped, max_body=max_body, lead=lead,
    )


def public(method: str, path: str, **policy: Any) -> Operation:
    return _op(Access.PUBLIC, method, path, **policy)


def authenticated(method: str, path: str, **policy: Any) -> Operation:
    return _op(Access.AUTHENTICATED, method, path, **policy)


def user_only(method: str, path: str, **policy: Any) -> Operation:
    return _op(Access.USER, method, path, **policy)


SUPER_ADMIN = (Role.SUPER_ADMIN,)
ADMINS = (Role.ADMIN, Role.SUPER_ADMIN)

OPERATIONS: tuple[Operation, ...] = (
    # --- auth: public credential routes, limited per client IP in the stricter "auth" class
    public("POST", "/company", rate=AUTH_RATE),
    public("POST", "/auth/register", rate=AUTH_RATE),
    public("POST", "/auth/login", rate=AUTH_RATE),
    public("POST", "/auth/refresh", rate=AUTH_RATE, opaque_bearer=True),
    public("POST", "/send", rate=AUTH_RATE),
    public("POST", "/verify", rate=AUTH_RATE),
    public("POST", "/auth/forgot-password", rate=AUTH_RATE),
    public("POST", "/auth/reset-password", rate=AUTH_RATE),
    public("GET", "/auth/super-admin", rate=AUTH_RATE),
    public("GET", "/address-seed", rate=AUTH_RATE),
    # --- auth: a company's uploaded logo, shown wherever the company is (widgets, consoles)
    public("GET", "/company/{company_id}/logo", tenant_scoped=False),
    # --- auth: geographic reference data, the same for every tenant
    public("GET", "/country", tenant_scoped=False),
    public("GET", "/country/{country_id}", tenant_scoped=False),
    public("GET", "/state/country/{country_id}", tenant_scoped=False),
    public("GET", "/state/{state_id}", tenant_scoped=False),
    public("GET", "/city/state/{state_id}", tenant_scoped=False),
    public("GET", "/city/{city_id}", tenant_scoped=False),
    user_only("POST", "/country", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("PATCH", "/country/{country_id}", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("POST", "/state", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("PATCH", "/state/{state_id}", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("POST", "/city", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("PATCH", "/city/{city_id}", roles=SUPER_ADMIN, tenant_scoped=False),
    # --- auth: a user's own sessions and keys (an API key cannot mint or revoke keys)
    user_only("GET", "/auth/api-keys"),
    user_only("POST", "/auth/api-keys"),
    user_only("DELETE", "/auth/api-keys/{api_key_id}"),
    user_only("POST", "/auth/logout"),
    user_only("POST", "/user/{user_id}/impersonate", roles=SUPER_ADMIN),
    # --- auth: the caller's account, company and addresses
    authenticated("GET", "/auth/validate"),
    authenticated("GET", "/auth/user/me"),
    authenticated("GET", "/user/profile"),
    authenticated("PUT", "/user/profile"),
    authenticated("GET", "/user/{user_id}"),
    authenticated("GET", "/company"),
    authenticated("GET", "/address"),
    authenticated("POST", "/address"),
    # --- auth: company administration
    authenticated("POST", "/auth/user", roles=ADMINS, scope="admin"),
    authenticated("GET", "/admin/user", roles=ADMINS, scope="admin"),
    authenticated("GET", "/admin/user/{user_id}", roles=ADMINS, scope="admin"),
    authenticated("PATCH", "/user/{user_id}/status", roles=ADMINS, scope="admin"),
    authenticated("PATCH", "/user/{user_id}/role", roles=ADMINS, scope="admin"),
    authenticated("POST", "/user/{user_id}/force-password-reset", roles=ADMINS, scope="admin"),
    authenticated("PUT", "/company/{company_id}", roles=ADMINS, scope="admin"),
    authenticated("PATCH", "/company/{company_id}", roles=ADMINS, scope="admin"),
    # --- auth: platform administration
    authenticated("GET", "/super-admin/company", roles=SUPER_ADMIN),
    authenticated("GET", "/super-admin/company/{company_id}/user", roles=SUPER_ADMIN),
    authenticated("DELETE", "/company/{company_id}", roles=SUPER_ADMIN),
    authenticated("PATCH", "/company/{company_id}/restore", roles=SUPER_ADMIN),
    authenticated("GET", "/company/deleted", roles=SUPER_ADMIN),
    authenticated("DELETE", "/company/bulk-delete", roles=SUPER_ADMIN),
    authenticated("PATCH", "/company/bulk-restore", roles=SUPER_ADMIN),
    authenticated("GET", "/company/{company_id}/related-data", roles=SUPER_ADMIN),
    authenticated("DELETE", "/company/{company_id}/cascade-delete", roles=SUPER_ADMIN),
    # --- auth: the platform's system configuration (admins read it, sensitive values masked)
    authenticated("GET", "/config", roles=ADMINS, scope="admin", tenant_scoped=False),
    user_only("PATCH", "/config", roles=SUPER_ADMIN, tenant_scoped=False),
    # --- agents: the providers and models catalogue, the same for every tenant
    authenticated("GET", "/providers", tenant_scoped=False),
    authenticated("GET", "/providers/{provider_id}", tenant_scoped=False),
    authenticated("GET", "/providers/{provider_id}/models", tenant_scoped=False),
    authenticated("GET", "/providers/{provider_id}/models/{model_id}", tenant_scoped=False),
    authenticated("GET", "/settings/providers", tenant_scoped=False),
    user_only("POST", "/providers", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("POST", "/providers/bulk-import", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("PUT", "/providers/{provider_id}", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("DELETE", "/providers/{provider_id}", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("POST", "/providers/{provider_id}/models", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("PUT", "/providers/{provider_id}/models/{model_id}", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("DELETE", "/providers/{provider_id}/models/{model_id}", roles=SUPER_ADMIN, tenant_scoped=False),
    user_only("POST", "/settings/providers/seed", roles=SUPER_ADMIN, tenant_scoped=False),
    # --- agents: the company's agents (the widget's public reads come with the widget)
    authenticated("GET", "/agent"),
    authenticated("POST", "/agent", roles=ADMINS),
    authenticated("GET", "/agent/by-name/{name}"),
    authenticated("GET", "/agent/{agent_id}"),
    authenticated("PUT", "/agent/{agent_id}", roles=ADMINS),
    authenticated("DELETE", "/agent/{agent_id}", roles=ADMINS),
    authenticated("PATCH", "/agent/{agent_id}/restore", roles=ADMINS),
    authenticated("POST", "/agent/{agent_id}/clone", roles=ADMINS),
    authenticated("GET", "/agent/{agent_id}/embed-code"),
    authenticated("POST", "/sdk/agent", roles=ADMINS),
    authenticated("PUT", "/sdk/agent/{agent_id}", roles=ADMINS),
    authenticated("DELETE", "/sdk/agent/{agent_id}", roles=ADMINS),
    # --- agents: LLM and embedding settings of a company or an agent
    authenticated("POST", "/settings", roles=ADMINS),
    authenticated("POST", "/sdk/settings", roles=ADMINS),
    authenticated("GET", "/settings/company/{company_id}"),
    authenticated("GET", "/settings/agent/{agent_id}"),
    authenticated("GET", "/settings/{settings_id}"),
    authenticated("PUT", "/settings/{settings_id}", roles=ADMINS),
    authenticated("DELETE", "/settings/{settings_id}", roles=ADMINS),
    authenticated("POST", "/settings/test/{settings_id}", roles=ADMINS),
    # --- ingestion: documents and chunks (uploads take the upload body limit)
    authenticated("POST", "/document/upload", roles=ADMINS, max_body=None),
    authenticated("GET", "/document"),
    authenticated("GET", "/document/agent/{agent_id}"),
    authenticated("GET", "/document/deleted"),
    authenticated("GET", "/document/chunk/deleted"),
    authenticated("DELETE", "/document/bulk-delete", roles=ADMINS),
    authenticated("GET", "/document/{document_id}"),
    authenticated("DELETE", "/document/{document_id}", roles=ADMINS),
    authenticated("PATCH", "/document/{document_id}/restore", roles=ADMINS),
    authenticated("GET", "/document/{document_id}/chunk"),
    authenticated("DELETE", "/document/{document_id}/chunk", roles=ADMINS),
    authenticated("PATCH", "/document/{document_id}/chunk/restore-all", roles=ADMINS),
    authenticated("DELETE", "/document/chunk/{chunk_id}", roles=ADMINS),
    authenticated("PATCH", "/document/chunk/{chunk_id}/restore", roles=ADMINS),
    # --- ingestion: search (a read, whatever the method)
    authenticated("POST", "/search/document", scope="read"),
    # --- ingestion: web sites; the widget's handshake is public (the agent's allowed origins decide)
    authenticated("POST", "/website/source", roles=ADMINS),
    authenticated("GET", "/website/source"),
    authenticated("GET", "/website/agent/{agent_id}/sources"),
    authenticated("GET", "/website/source/{source_id}/pages"),
    authenticated("POST", "/website/source/{source_id}/crawl", roles=ADMINS),
    authenticated("DELETE", "/website/source/{source_id}", roles=ADMINS),
    authenticated("POST", "/sdk/website/source/{source_id}/crawl", roles=ADMINS),
    authenticated("DELETE", "/sdk/website/source/{source_id}", roles=ADMINS),
    public("POST", "/website/handshake"),
    # --- conversations and messages (the service scopes each to its owner, or the company's admins;
    # a lead token reaches only its own conversations, through the operations marked lead=True)
    authenticated("POST", "/conversation", lead=True),
    authenticated("GET", "/conversation"),
    authenticated("GET", "/conversation/entity", lead=True),
    authenticated("GET", "/conversation/entity/{entity_id}"),
    authenticated("GET", "/conversation/agent/{agent_id}"),
    authenticated("GET", "/conversation/deleted"),
    authenticated("GET", "/conversation/{conversation_id}", lead=True),
    authenticated("DELETE", "/conversation/{conversation_id}"),
    authenticated("PATCH", "/conversation/{conversation_id}/restore"),
    authenticated("GET", "/conversation/{conversation_id}/messages", lead=True),
    authenticated("DELETE", "/conversation/{conversation_id}/messages"),
    authenticated("PATCH", "/conversation/{conversation_id}/message/restore-all"),
    authenticated("GET", "/conversation/{conversation_id}/messages/stream", lead=True),
    authenticated("POST", "/conversation/{conversation_id}/chat", lead=True),
    authenticated("GET", "/message/deleted"),
    authenticated("DELETE", "/message/{message_id}"),
    authenticated("PATCH", "/message/{message_id}/restore"),
    # --- feedback on an answer or a conversation (whoever sees it, leads too); members list it
    authenticated("POST", "/message/{message_id}/feedback", lead=True),
    authenticated("POST", "/conversation/{conversation_id}/feedback", lead=True),
    authenticated("GET", "/conversation/{conversation_id}/feedback"),
    # --- leads: the widget registers visitors (public, limited per client IP like any anonymous
    # caller); members read the company's leads, admins change, export (GDPR) and erase them
    public("POST", "/lead/register"),
    authenticated("POST", "/lead", roles=ADMINS),
    authenticated("GET", "/lead/company"),
    authenticated("GET", "/lead/{lead_id}"),
    authenticated("PUT", "/lead/{lead_id}", roles=ADMINS),
    authenticated("DELETE", "/lead/{lead_id}", roles=ADMINS),
    authenticated("GET", "/lead/{lead_id}/export", roles=ADMINS),
    authenticated("DELETE", "/lead/{lead_id}/data", roles=ADMINS),
    authenticated("POST", "/sdk/lead", roles=ADMINS),
    authenticated("PUT", "/sdk/lead/{lead_id}", roles=ADMINS),
    authenticated("DELETE", "/sdk/lead/{lead_id}", roles=ADMINS),
    # --- analytics: company analytics for members (a user sees their own, the service decides);
    # exports, API-key analytics, system metrics and the audit log for admins
    authenticated("GET", "/analytic/dashboard"),
    authenticated("GET", "/analytic/agent/{agent_id}"),
    authenticated("GET", "/analytic/agent/{agent_id}/performance-comparison"),
    authenticated("GET", "/analytic/conversation/{conversation_id}"),
    authenticated("GET", "/analytic/leads"),
    authenticated("GET", "/analytic/usage"),
    authenticated("POST", "/analytic/export", roles=ADMINS, scope="read"),
    authenticated("GET", "/analytic/export/{export_id}/download", roles=ADMINS),
    authenticated("GET", "/company/statistics"),
    authenticated("GET", "/company/{company_id}/statistics"),
    authenticated("GET", "/agent/{agent_id}/stats"),
    authenticated("GET", "/overview", roles=ADMINS),
    authenticated("GET", "/usage-trends", roles=ADMINS),
    authenticated("GET", "/top-endpoints", roles=ADMINS),
    authenticated("GET", "/api-key-performance", roles=ADMINS),
    authenticated("GET", "/error-analysis", roles=ADMINS),
    authenticated("GET", "/rate-limit-analysis", roles=ADMINS),
    authenticated("GET", "/detailed-usage/{api_key_id}", roles=ADMINS),
    authenticated("GET", "/admin/system-metric", roles=ADMINS, scope="admin"),
    authenticated("GET", "/super-admin/company/{company_id}/system-metric", roles=ADMINS, scope="admin"),
    authenticated("POST", "/system-metric", roles=ADMINS, scope="admin"),
    authenticated("GET", "/audit-log", roles=ADMINS, scope="admin"),
    # --- webhooks (outgoing event subscriptions) are the company admins'
    authenticated("GET", "/webhook/event-types"),
    authenticated("GET", "/webhook", roles=ADMINS),
    authenticated("POST", "/webhook", roles=ADMINS),
    authenticated("GET", "/webhook/{webhook_id}", roles=ADMINS),
    authenticated("PATCH", "/webhook/{webhook_id}", roles=ADMINS),
    authenticated("DELETE", "/webhook/{webhook_id}", roles=ADMINS),
    authenticated("POST", "/webhook/{webhook_id}/rotate-secret", roles=ADMINS, scope="admin"),
    authenticated("GET", "/webhook/{webhook_id}/deliveries", roles=ADMINS),
    authenticated("POST", "/webhook/{webhook_id}/deliveries/{delivery_id}/retry", roles=ADMINS),
    authenticated("POST", "/webhook/{webhook_id}/test", roles=ADMINS),
    # --- the gateway's task-status fan-out (each service scopes tasks by company)
    authenticated("GET", "/tasks/{task_id}/status"),
    # --- the widget script is public: at the root (the embed code's), and under /api/v1 (the SDK's)
    public("GET", "/widget.js", tenant_scoped=False, root=True),
    public("GET", "/widget.js", tenant_scoped=False),
    # --- the chat widget (conversations): an agent's public widget settings; test pages that embed
    # the widget (made by admins, then public until they expire); an agent test runs one question
    # through the chat pipeline, its answer lands in a task
    public("GET", "/widget/agent/{agent_id}", tenant_scoped=False, lead=True),
    authenticated("POST", "/test", roles=ADMINS),
    public("GET", "/test/page/{token}", tenant_scoped=False),
    authenticated("POST", "/agent/{agent_id}/test"),
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
