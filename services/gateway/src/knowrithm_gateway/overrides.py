"""The gateway's limits that system-configuration entries may override while it runs.

Auth publishes the entries of the platform's keys to Redis; the runtime's watcher reads them
about once a second and calls `LiveLimits.apply`, then drops the per-token and per-key caches
whose rate-limit buckets were built from the old values (each is rebuilt on its next request).
Nothing here costs a request more than an attribute read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from knowrithm_common.sysconfig import COMPANY_RATE_LIMIT, MAX_FILE_SIZE, USER_RATE_LIMIT
from knowrithm_gateway.config import MIB, GatewaySettings

# Room for the multipart framing around a file of the largest allowed size (50 MiB -> 55 MiB).
UPLOAD_FRAMING_BYTES = 5 * MIB


class LiveLimits:
    """The per-user and per-company minute limits and the upload body limit in force now."""

    user_per_minute: int
    company_per_minute: int
    upload_body_bytes: int

    def __init__(self, settings: GatewaySettings) -> None:
        self._settings = settings
        self.apply({})

    def apply(self, values: Mapping[str, Any]) -> None:
        """Take the overrides in `values` (known key -> value); a missing key means the setting."""
        settings = self._settings
        self.user_per_minute = values.get(USER_RATE_LIMIT.name, settings.rate_limit_user_per_minute)
        self.company_per_minute = values.get(COMPANY_RATE_LIMIT.name, settings.rate_limit_company_per_minute)
        max_file_size = values.get(MAX_FILE_SIZE.name)
        self.upload_body_bytes = (
            settings.max_body_bytes if max_file_size is None else max_file_size + UPLOAD_FRAMING_BYTES
        )
