"""The platform's processes: adding a service or worker is one line in PROCESSES."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessSpec:
    """One platform process: an ASGI app factory served by uvicorn."""

    name: str
    #: `module:factory` passed to `uvicorn --factory`.
    app: str
    #: Port under `knowrithm-stack up` (tests use random ports).
    port: int
    #: Module run as `python -m <migrate>` before any process starts (None: no migrations).
    migrate: str | None = None
    #: Generated private keys this process receives: "assertion", "jwt" and/or "lead".
    #: Every process receives every public key.
    private_keys: tuple[str, ...] = ()
    #: Receives the SUPER_ADMIN_* bootstrap variables.
    super_admin: bool = False
    #: The public entry point: its port is fixed (fail if taken) and it is not an upstream.
    public: bool = False

    @property
    def upstream_env(self) -> str:
        """Return the variable giving the gateway this process's URL (GATEWAY_<NAME>_URL)."""
        return f"GATEWAY_{self.name.upper().replace('-', '_')}_URL"


# Migrations run in this order; processes start together once all migrations succeeded.
PROCESSES: tuple[ProcessSpec, ...] = (
    ProcessSpec(
        "auth",
        "knowrithm_auth.main:create_app",
        8601,
        migrate="knowrithm_auth.migrate",
        private_keys=("jwt",),
        super_admin=True,
    ),
    ProcessSpec(
        "agents", "knowrithm_agents.main:create_app", 8602, migrate="knowrithm_agents.migrate"
    ),
    ProcessSpec(
        "conversations",
        "knowrithm_conversations.main:create_app",
        8603,
        migrate="knowrithm_conversations.migrate",
        private_keys=("lead",),  # signs the widget visitors' lead tokens
    ),
    ProcessSpec(
        "ingestion",
        "knowrithm_ingestion.main:create_app",
        8604,
        migrate="knowrithm_ingestion.migrate",
    ),
    ProcessSpec(
        "analytics",
        "knowrithm_analytics.main:create_app",
        8605,
        migrate="knowrithm_analytics.migrate",
    ),
    ProcessSpec("ingestion-worker", "knowrithm_ingestion.worker:create_app", 8606),
    # The web console, served by the gateway under /console (no migrations: sessions in Redis).
    ProcessSpec("console", "knowrithm_console.main:create_app", 8607),
    ProcessSpec(
        "gateway",
        "knowrithm_gateway.main:create_app",
        8543,
        private_keys=("assertion",),
        public=True,
    ),
)


def process_names(specs: tuple[ProcessSpec, ...] = PROCESSES) -> list[str]:
    """Return the names of specs, in order."""
    return [spec.name for spec in specs]
