"""What reaching a customer's database can fail with; every message is safe to show (no password).

Statuses, chosen so a caller can tell its own mistake from the database's state:
- `DatabaseRefused` 422 `database_host_refused`: the target may not be reached at all (a private,
  loopback, link-local or metadata address not on the allow-list, an SRV answer that leaves the
  domain, an unsupported engine). Nothing was sent to the host.
- `InvalidConnectionUrl` 422 `invalid_connection_url`: the URL cannot be read for its engine.
- `DatabaseUnreachable` 502 `database_unreachable`: allowed, but the host could not be resolved,
  did not accept the connection, refused the credentials or the TLS handshake.
- `DatabaseQueryFailed` 422 `database_query_failed`: the server rejected the (already guarded)
  statement, e.g. an unknown column, or a write in the read-only transaction.
- `DatabaseQueryTimeout` 504 `database_query_timeout`: the statement was cut at its timeout.
"""

from __future__ import annotations

from knowrithm_common.errors import BadGateway, GatewayTimeout, ValidationFailed


class DatabaseRefused(ValidationFailed):
    code, message = "database_host_refused", "This database host may not be reached"


class InvalidConnectionUrl(ValidationFailed):
    code, message = "invalid_connection_url", "The connection URL is not valid for this engine"


class DatabaseUnreachable(BadGateway):
    code, message = "database_unreachable", "The database could not be reached"


class DatabaseQueryFailed(ValidationFailed):
    code, message = "database_query_failed", "The database rejected the query"


class DatabaseQueryTimeout(GatewayTimeout):
    code, message = "database_query_timeout", "The query did not finish within its time limit"
