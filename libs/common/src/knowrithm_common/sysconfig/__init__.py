"""System configuration shared by auth (which owns the entries) and the processes honouring them."""

from knowrithm_common.sysconfig.keys import (
    COMPANY_RATE_LIMIT,
    KNOWN_KEYS,
    MAX_FILE_SIZE,
    PUBLIC_SIGNUP,
    USER_RATE_LIMIT,
    ConfigType,
    InvalidConfigValue,
    KnownKey,
    coerce,
    infer_type,
)
from knowrithm_common.sysconfig.live import (
    REVISION_FIELD,
    SNAPSHOT_KEY,
    SystemConfigWatcher,
    parse_snapshot,
    publish_snapshot,
)

__all__ = [
    "COMPANY_RATE_LIMIT",
    "KNOWN_KEYS",
    "MAX_FILE_SIZE",
    "PUBLIC_SIGNUP",
    "REVISION_FIELD",
    "SNAPSHOT_KEY",
    "USER_RATE_LIMIT",
    "ConfigType",
    "InvalidConfigValue",
    "KnownKey",
    "SystemConfigWatcher",
    "coerce",
    "infer_type",
    "parse_snapshot",
    "publish_snapshot",
]
