"""Process tables of stand-in processes (port 0 = any free port)."""

import os

from knowrithm_stack.processes import ProcessSpec

APP = "stackdummy_app:create_app"
PROCESSES = (
    ProcessSpec(
        "auth", APP, 0, migrate="stackdummy_migrate_ok", private_keys=("jwt",), super_admin=True
    ),
    ProcessSpec("worker", APP, 0),
    ProcessSpec("gateway", APP, 0, private_keys=("assertion",), public=True),
)
FAILING = (ProcessSpec("auth", APP, 0, migrate="stackdummy_migrate_fail"),)
GATEWAY_ON_PORT = (
    ProcessSpec("gateway", APP, int(os.environ.get("STACKDUMMY_GATEWAY_PORT", "0")), public=True),
)
