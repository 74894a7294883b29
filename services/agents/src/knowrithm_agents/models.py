"""agents tables (schema `agents`)."""

from __future__ import annotations

from knowrithm_common.db.base import make_base
from knowrithm_common.db.platform import PlatformTables

SCHEMA = "agents"
Base = make_base(SCHEMA)
platform = PlatformTables(Base.metadata)
