"""docker-compose.yml, the Dockerfile and the files compose mounts, checked statically.

Docker is not needed: the compose file is parsed with PyYAML (merge keys resolved, as
Compose does) and checked for what an operator relies on — every process built from the
one Dockerfile with its command, environment, healthcheck and start order; migrations
before their service; durable NATS; only the gateway (and Prometheus/Grafana, on
localhost) published; secrets only from .env. The NATS config is also checked by
`nats-server -t` when the binary is installed (the workspace's knowrithm-stack ships it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]

# process -> (image service, port, migrations module or None); docs/architecture.md
PROCESSES = {
    "gateway": ("gateway", 8543, None),
    "auth": ("auth", 8601, "knowrithm_auth.migrate"),
    "agents": ("agents", 8602, "knowrithm_agents.migrate"),
    "conversations": ("conversations", 8603, "knowrithm_conversations.migrate"),
    "ingestion": ("ingestion", 8604, "knowrithm_ingestion.migrate"),
    "analytics": ("analytics", 8605, "knowrithm_analytics.migrate"),
    "ingestion-worker": ("ingestion", 8606, None),
    "console": ("console", 8607, None),
}
COMMON_ENV = {
    "KNOWRITHM_ENV",
    "NATS_URL",
    "REDIS_URL",
    "KNOWRITHM_ASSERTION_PUBLIC_KEY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "BASE_URL",
}
UPSTREAMS = ("AUTH", "AGENTS", "CONVERSATIONS", "INGESTION", "ANALYTICS", "INGESTION_WORKER", "CONSOLE")
SUPER_ADMIN = {f"SUPER_ADMIN_{f}" for f in ("EMAIL", "USERNAME", "FIRST_NAME", "LAST_NAME")}
REQUIRED_ENV = {
    "gateway": COMMON_ENV
    | {"KNOWRITHM_ASSERTION_PRIVATE_KEY", "KNOWRITHM_LEAD_TOKEN_PUBLIC_KEY"}
    | {f"GATEWAY_{s}_URL" for s in UPSTREAMS},
    "auth": COMMON_ENV
    | {"DATABASE_URL", "KNOWRITHM_JWT_PRIVATE_KEY", "SUPER_ADMIN_PASSWORD", "ENCRYPTION_KEY"}
    | SUPER_ADMIN,
    "agents": COMMON_ENV | {"DATABASE_URL"},
    "conversations": COMMON_ENV | {"DATABASE_URL", "KNOWRITHM_LEAD_TOKEN_PRIVATE_KEY", "ENCRYPTION_KEY"},
    "ingestion": COMMON_ENV | {"DATABASE_URL", "WEAVIATE_URL", "ENCRYPTION_KEY"},
    "analytics": COMMON_ENV | {"DATABASE_URL"},
    "ingestion-worker": COMMON_ENV | {"DATABASE_URL", "WEAVIATE_URL", "ENCRYPTION_KEY"},
    "console": COMMON_ENV | {"CONSOLE_API_URL"},
}
DATASTORES = {"postgres", "nats", "redis", "weaviate"}
OPERATOR_UIS = {"prometheus", "grafana"}
# Databases for the engines' contract suite, started only with `--profile contract`.
CONTRACT_DATABASES = {"mongodb", "mssql"}
SECRET_NAME = re.compile(r"(PASSWORD|PRIVATE_KEY|PUBLIC_KEY|SECRET|TOKEN|API_KEY)$")
REQUIRED_FROM_ENV_FILE = re.compile(r"^\$\{(?P<var>[A-Z0-9_]+):\?set (?P=var) in \.env\}$")


def _env(service: str) -> dict[str, str]:
    return SERVICES[service].get("environment", {})


def _depends(service: str) -> dict[str, str]:
    return {name: dep["condition"] for name, dep in SERVICES[service].get("depends_on", {}).items()}


def _nats_conf_path() -> Path:
    volumes = SERVICES["nats"]["volumes"]
    (mount,) = [v for v in volumes if v.endswith(":/etc/nats/nats.conf:ro")]
    return REPO / mount.split(":")[0]


# ------------------------------------------------------------------- application


def test_every_process_and_its_migrations_are_defined() -> None:
    migrations = {f"{name}-migrate" for name, (_, _, m) in PROCESSES.items() if m}
    everything = set(PROCESSES) | migrations | DATASTORES | OPERATOR_UIS | CONTRACT_DATABASES
    assert everything | {"otel-collector"} == set(SERVICES)


@pytest.mark.parametrize("name", PROCESSES)
def test_process_is_built_from_the_dockerfile(name: str) -> None:
    image_service, port, _ = PROCESSES[name]
    service = SERVICES[name]
    assert service["build"] == {
        "context": ".",
        "dockerfile": "deploy/docker/Dockerfile",
        "args": {"SERVICE": image_service},
    }
    assert service["image"] == f"knowrithm/{image_service}:${{KNOWRITHM_TAG:-dev}}"
    module = "knowrithm_ingestion.worker" if name == "ingestion-worker" else None
    module = module or f"knowrithm_{image_service}.main"
    assert service["command"] == [
        "uvicorn",
        "--factory",
        f"{module}:create_app",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--no-proxy-headers",  # client addresses are the gateway's call
    ]
    # hardened like the Kubernetes pods
    assert service["read_only"] is True
    assert service["tmpfs"] == ["/tmp"]
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]


@pytest.mark.parametrize("name", PROCESSES)
def test_process_healthcheck_uses_its_readiness_endpoint(name: str) -> None:
    _, port, _ = PROCESSES[name]
    test = SERVICES[name]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert f"http://127.0.0.1:{port}/health/ready" in test[3]


@pytest.mark.parametrize("name", PROCESSES)
def test_process_gets_the_environment_it_needs(name: str) -> None:
    env = _env(name)
    assert REQUIRED_ENV[name] <= env.keys(), REQUIRED_ENV[name] - env.keys()
    assert env["NATS_URL"] == "nats://nats:4222"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    if "DATABASE_URL" in env:
        assert env["DATABASE_URL"].startswith("postgresql://knowrithm:")
        assert env["DATABASE_URL"].endswith("@postgres:5432/knowrithm")
    if "WEAVIATE_URL" in env:
        assert env["WEAVIATE_URL"] == "http://weaviate:8080"
    # private keys only where they sign
    assert ("KNOWRITHM_ASSERTION_PRIVATE_KEY" in env) == (name == "gateway")
    assert ("KNOWRITHM_JWT_PRIVATE_KEY" in env) == (name == "auth")
    assert ("KNOWRITHM_LEAD_TOKEN_PRIVATE_KEY" in env) == (name == "conversations")
    assert ("DATABASE_URL" in env) == (name not in ("gateway", "console"))


def test_gateway_reaches_every_upstream_by_its_compose_name() -> None:
    env = _env("gateway")
    for name, (_, port, _) in PROCESSES.items():
        if name != "gateway":
            assert env[f"GATEWAY_{name.upper().replace('-', '_')}_URL"] == f"http://{name}:{port}"


@pytest.mark.parametrize("name", PROCESSES)
def test_process_starts_after_its_dependencies(name: str) -> None:
    depends = _depends(name)
    needed = {"nats", "redis"} | ({"postgres"} if name != "gateway" else set())
    if name == "console":
        needed = {"redis"}  # sessions only: no database, no events
    if name in ("ingestion", "ingestion-worker"):
        needed.add("weaviate")
    for dependency in needed:
        assert depends.get(dependency) == "service_healthy", (name, dependency)
    _, _, migrate = PROCESSES[name]
    migrations = "ingestion-migrate" if name == "ingestion-worker" else f"{name}-migrate"
    if migrate or name == "ingestion-worker":
        assert depends[migrations] == "service_completed_successfully"
    # tracing is best effort: the (distroless) collector only has to be started
    assert depends["otel-collector"] == "service_started"
    if name == "gateway":
        for upstream in set(PROCESSES) - {"gateway"}:
            assert depends[upstream] == "service_healthy"


@pytest.mark.parametrize(
    "name", [n for n, (_, _, migrate) in PROCESSES.items() if migrate is not None]
)
def test_migrations_are_one_shot_services(name: str) -> None:
    migrate = SERVICES[f"{name}-migrate"]
    assert migrate["command"] == ["python", "-m", PROCESSES[name][2]]
    assert migrate["build"] == SERVICES[name]["build"]
    assert migrate["image"] == SERVICES[name]["image"]
    assert migrate["restart"] == "no"
    assert _depends(f"{name}-migrate") == {"postgres": "service_healthy"}
    assert set(migrate["environment"]) == {"KNOWRITHM_ENV", "DATABASE_URL"}


# -------------------------------------------------------------------- datastores


def test_everything_but_the_distroless_collector_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        if name.endswith("-migrate"):
            continue  # one-shot: depended on with service_completed_successfully
        if name == "otel-collector":
            assert "healthcheck" not in service  # no shell or wget in the image
            continue
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def test_nats_runs_jetstream_with_fsync_on_every_write() -> None:
    nats = SERVICES["nats"]
    assert nats["command"] == ["nats-server", "--config", "/etc/nats/nats.conf"]
    conf = _nats_conf_path().read_text()
    assert re.search(r"jetstream\s*\{[^}]*\bsync_interval:\s*always\b", conf)
    assert re.search(r"store_dir:\s*/data/jetstream", conf)
    assert "nats-data:/data" in nats["volumes"]
    assert "js-enabled-only=true" in nats["healthcheck"]["test"][-1]


def test_nats_config_is_accepted_by_nats_server() -> None:
    binary = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    if not Path(binary).is_file():
        pytest.skip("nats-server binary not installed")
    result = subprocess.run(
        [binary, "-c", str(_nats_conf_path()), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_datastores_persist_to_volumes() -> None:
    mounts = {
        "postgres": "postgres-data:/var/lib/postgresql/data",
        "redis": "redis-data:/data",
        "weaviate": "weaviate-data:/var/lib/weaviate",
    }
    for name, mount in mounts.items():
        assert mount in SERVICES[name]["volumes"], name
    assert SERVICES["postgres"]["image"].startswith("pgvector/pgvector:")
    assert SERVICES["weaviate"]["image"].startswith("semitechnologies/weaviate:")


# --------------------------------------------------------------- ports and secrets


def test_only_the_gateway_and_operator_uis_publish_ports() -> None:
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"gateway"} | OPERATOR_UIS | CONTRACT_DATABASES
    assert SERVICES["gateway"]["ports"] == ["${GATEWAY_PORT:-8543}:8543"]
    assert SERVICES["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert SERVICES["grafana"]["ports"] == ["127.0.0.1:3000:3000"]
    for name in CONTRACT_DATABASES:  # test servers: only on request, only on this machine
        assert SERVICES[name]["profiles"] == ["contract"]
        assert all(port.startswith("127.0.0.1:") for port in SERVICES[name]["ports"]), name


def _all_environment_values() -> list[tuple[str, str, str]]:
    return [
        (name, key, str(value))
        for name, service in SERVICES.items()
        for key, value in service.get("environment", {}).items()
    ]


OPTIONAL_SECRETS = {"GEMINI_API_KEY", "SMTP_PASSWORD"}
# The contract databases' passwords: no default, and not `:?` (Compose interpolates services of
# inactive profiles too, so that would stop every `docker compose up`); an empty one stops them.
CONTRACT_SECRETS = {
    "MONGO_INITDB_ROOT_PASSWORD": "MONGODB_ROOT_PASSWORD",
    "MSSQL_SA_PASSWORD": "MSSQL_SA_PASSWORD",
}


def test_secrets_come_only_from_the_env_file() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert "BEGIN" not in text and "PRIVATE KEY" not in text
    for service, key, value in _all_environment_values():
        if service in CONTRACT_DATABASES and key in CONTRACT_SECRETS:
            assert value == f"${{{CONTRACT_SECRETS[key]}:-}}", service
        elif key in OPTIONAL_SECRETS:
            assert value == f"${{{key}:-}}", service  # optional, and only ever from the env file
        elif SECRET_NAME.search(key):
            assert REQUIRED_FROM_ENV_FILE.match(value), (service, key, value)
        elif key == "DATABASE_URL":
            password = value.removeprefix("postgresql://knowrithm:").split("@postgres")[0]
            assert REQUIRED_FROM_ENV_FILE.match(password), (service, value)


def test_env_example_documents_every_required_variable() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = (REPO / "deploy" / "compose.env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert required <= documented, required - documented
    # the example carries no values for secrets
    for line in example.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if SECRET_NAME.search(key) or key.endswith("_EMAIL"):
            assert value == "", line


# ----------------------------------------------------------------- observability


def test_prometheus_scrapes_every_process() -> None:
    prometheus = SERVICES["prometheus"]
    assert (
        "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
        in (prometheus["volumes"])
    )
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        if job.get("metrics_path", "/metrics") == "/metrics"
        for static in job["static_configs"]
        for target in static["targets"]
    }
    for name, (_, port, _) in PROCESSES.items():
        assert f"{name}:{port}" in targets, name
    assert "otel-collector:8888" in targets


def test_grafana_is_provisioned_with_prometheus_and_the_dashboards_folder() -> None:
    grafana = SERVICES["grafana"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    (datasource,) = datasources["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    dashboards = yaml.safe_load((provisioning / "dashboards" / "knowrithm.yaml").read_text())
    (provider,) = dashboards["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert (REPO / "deploy" / "grafana" / "dashboards").is_dir()


def test_collector_receives_otlp_http_and_wires_its_pipelines() -> None:
    collector = SERVICES["otel-collector"]
    assert collector["command"] == ["--config=/etc/otelcol/collector.yaml"]
    config = yaml.safe_load((REPO / "deploy" / "otel" / "collector.yaml").read_text())
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    service = config["service"]
    assert set(service["extensions"]) <= config["extensions"].keys()
    for pipeline in service["pipelines"].values():
        for part in ("receivers", "processors", "exporters"):
            for component in pipeline.get(part, []):
                defined = config.get(part, {}).keys() | config.get("connectors", {}).keys()
                assert component in defined, component


# -------------------------------------------------------------------- Dockerfile


def test_dockerfile_builds_one_service_as_non_root_without_build_tools() -> None:
    text = (REPO / "deploy" / "docker" / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)
    final = stages[-1]
    assert "ARG SERVICE" in text
    assert re.search(r'uv sync --frozen --no-dev .*--package "knowrithm-\$\{SERVICE\}"', text)
    assert "USER 10001:10001" in final
    assert "COPY --from=uv" not in final, "uv stays in the build stage"
    assert not re.search(r"\b(gcc|g\+\+|build-essential|make)\b", final)
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".env", "tests", "**/*.pem"):
        assert entry in ignored, entry


def test_the_gateway_trusts_only_the_consoles_own_address_as_a_proxy() -> None:
    console_address = SERVICES["console"]["networks"]["console"]["ipv4_address"]
    assert _env("gateway")["GATEWAY_TRUSTED_PROXIES"] == f"{console_address}/32"
    assert _env("console")["CONSOLE_API_URL"] == "http://gateway-for-console:8543"
    assert "gateway-for-console" in SERVICES["gateway"]["networks"]["console"]["aliases"]
    # the browser reaches the gateway on the default network, never from the console's address
    assert set(SERVICES["gateway"]["networks"]) == {"default", "console"}
