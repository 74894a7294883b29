"""deploy/k8s: render both overlays and check what an operator relies on.

Rendering: the overlays are copied to a temporary tree, their uncommitted secret inputs are
created there (secrets.env from the committed example, freshly generated Ed25519 PEM keys),
and the tree is built with tests/deploy/_kustomize.py, a small renderer limited to the
Kustomize features deploy/k8s uses (it refuses any other). When a real `kustomize` or
`kubectl` binary is on PATH, `test_renderer_matches_real_kustomize` checks that both
produce the same manifests; without one that test is skipped, the rest still run.

Every rendered manifest is validated (strictly: unknown fields fail) against the Kubernetes
OpenAPI schemas bundled with kubernetes-validate, for the oldest and the newest Kubernetes
version we support. No network, no cluster.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _load_renderer() -> Any:
    # by path: works whatever pytest's import mode (tests/ is not a package)
    path = Path(__file__).with_name("_kustomize.py")
    spec = importlib.util.spec_from_file_location("knowrithm_deploy_kustomize", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_renderer().render
REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ["dev", "production"]
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.latest_version()]

# process -> (port, migrations module or None); docs/architecture.md
PROCESSES = {
    "gateway": (8543, None),
    "auth": (8601, "knowrithm_auth.migrate"),
    "agents": (8602, "knowrithm_agents.migrate"),
    "conversations": (8603, "knowrithm_conversations.migrate"),
    "ingestion": (8604, "knowrithm_ingestion.migrate"),
    "analytics": (8605, "knowrithm_analytics.migrate"),
    "ingestion-worker": (8606, None),
    "console": (8607, None),
}
FACTORIES = {
    name: f"knowrithm_{name}.main:create_app" for name in PROCESSES if name != "ingestion-worker"
} | {"ingestion-worker": "knowrithm_ingestion.worker:create_app"}

COMMON_ENV = {"KNOWRITHM_ENV", "NATS_URL", "REDIS_URL", "KNOWRITHM_ASSERTION_PUBLIC_KEY"}
REQUIRED_ENV = {
    "gateway": COMMON_ENV
    | {"KNOWRITHM_ASSERTION_PRIVATE_KEY", "KNOWRITHM_LEAD_TOKEN_PUBLIC_KEY"}
    | {
        f"GATEWAY_{s}_URL"
        for s in ("AUTH", "AGENTS", "CONVERSATIONS", "INGESTION", "ANALYTICS", "INGESTION_WORKER", "CONSOLE")
    },
    "auth": COMMON_ENV
    | {"DATABASE_URL", "KNOWRITHM_JWT_PRIVATE_KEY", "ENCRYPTION_KEY"}
    | {f"SUPER_ADMIN_{f}" for f in ("EMAIL", "USERNAME", "FIRST_NAME", "LAST_NAME", "PASSWORD")},
    "agents": COMMON_ENV | {"DATABASE_URL", "ENCRYPTION_KEY"},
    "conversations": COMMON_ENV | {"DATABASE_URL", "KNOWRITHM_LEAD_TOKEN_PRIVATE_KEY", "ENCRYPTION_KEY"},
    "ingestion": COMMON_ENV | {"DATABASE_URL", "WEAVIATE_URL", "ENCRYPTION_KEY"},
    "analytics": COMMON_ENV | {"DATABASE_URL", "ENCRYPTION_KEY"},
    "ingestion-worker": COMMON_ENV | {"DATABASE_URL", "WEAVIATE_URL", "ENCRYPTION_KEY"},
    "console": COMMON_ENV | {"CONSOLE_API_URL"},
}
# private keys reach only the process that signs with them
PRIVATE_KEY_OWNERS = {
    "KNOWRITHM_ASSERTION_PRIVATE_KEY": "gateway",
    "KNOWRITHM_JWT_PRIVATE_KEY": "auth",
    "KNOWRITHM_LEAD_TOKEN_PRIVATE_KEY": "conversations",
}
DATASTORES = {"postgres", "nats", "redis", "weaviate"}
MONITORING = {"prometheus", "grafana"}


def _pem_pair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/ copied with the uncommitted secret inputs an operator would create (the dev
    overlay takes Prometheus and Grafana from deploy/prometheus and deploy/grafana)."""
    deploy = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(K8S.parent, deploy, ignore=shutil.ignore_patterns("secrets"))
    tree = deploy / "k8s"
    for overlay in OVERLAYS:
        secrets = tree / "overlays" / overlay / "secrets"
        secrets.mkdir()
        example = K8S / "overlays" / overlay / "secrets" / "secrets.env.example"
        shutil.copy(example, secrets / "secrets.env")
        assertion_private, assertion_public = _pem_pair()
        (secrets / "assertion-private.pem").write_text(assertion_private)
        (secrets / "assertion-public.pem").write_text(assertion_public)
        (secrets / "jwt-private.pem").write_text(_pem_pair()[0])
        lead_private, lead_public = _pem_pair()
        (secrets / "lead-private.pem").write_text(lead_private)
        (secrets / "lead-public.pem").write_text(lead_public)
    return tree


@pytest.fixture(scope="module")
def rendered(k8s_tree: Path) -> dict[str, list[dict[str, Any]]]:
    return {overlay: render(k8s_tree / "overlays" / overlay) for overlay in OVERLAYS}


def _by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def _generated(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (match,) = [
        r
        for r in resources
        if r["kind"] == kind and re.fullmatch(rf"{name}-[a-z0-9]{{10}}", r["metadata"]["name"])
    ]
    return match


def _app_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


# ---------------------------------------------------------------------------- render


def test_renderer_matches_real_kustomize(k8s_tree: Path, rendered: dict[str, Any]) -> None:
    if shutil.which("kustomize"):
        command = ["kustomize", "build"]
    elif shutil.which("kubectl"):
        command = ["kubectl", "kustomize"]
    else:
        pytest.skip("no kustomize or kubectl on PATH to compare the renderer with")

    def key(r: dict[str, Any]) -> tuple[str, str, str]:
        return r["kind"], r["metadata"].get("namespace", ""), r["metadata"]["name"]

    for overlay in OVERLAYS:
        output = subprocess.run(
            [*command, str(k8s_tree / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        real = {key(r): r for r in yaml.safe_load_all(output) if r}
        ours = {key(r): r for r in rendered[overlay]}
        assert ours.keys() == real.keys(), overlay
        for resource_key in real:
            assert ours[resource_key] == real[resource_key], (overlay, resource_key)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_kubernetes_schemas(
    rendered: dict[str, Any], overlay: str, version: str
) -> None:
    for resource in rendered[overlay]:
        kubernetes_validate.validate(resource, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_is_namespaced(rendered: dict[str, Any], overlay: str) -> None:
    (namespace,) = _by_kind(rendered[overlay], "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for resource in rendered[overlay]:
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == namespace["metadata"]["name"]


# ------------------------------------------------------------------- the processes


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_deployment_and_service_per_process(rendered: dict[str, Any], overlay: str) -> None:
    deployments = _by_kind(rendered[overlay], "Deployment")
    services = _by_kind(rendered[overlay], "Service")
    assert set(deployments) == set(PROCESSES)
    for name, (port, _) in PROCESSES.items():
        container = _app_container(deployments[name])
        assert container["command"] == [
            "uvicorn",
            "--factory",
            FACTORIES[name],
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--no-proxy-headers",  # client addresses are the gateway's call
        ]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        selector = deployments[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert services[name]["spec"]["selector"] == selector
        assert services[name]["spec"]["ports"] == [
            {"name": "http", "port": port, "targetPort": "http"}
        ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migrations_run_before_their_service(rendered: dict[str, Any], overlay: str) -> None:
    deployments = _by_kind(rendered[overlay], "Deployment")
    for name, (_, migrate) in PROCESSES.items():
        init = deployments[name]["spec"]["template"]["spec"].get("initContainers", [])
        if migrate is None:
            assert init == [], name
            continue
        (container,) = init
        assert container["command"] == ["python", "-m", migrate]
        assert container["image"] == _app_container(deployments[name])["image"]
        env = {e["name"] for e in container["env"]}
        assert env == {"DATABASE_URL"}, "migrations get the database and nothing secret else"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_limits_and_hardening(rendered: dict[str, Any], overlay: str) -> None:
    """Every pod (services, worker, and dev datastores) has probes, requests and limits,
    and runs non-root, read-only, without privilege escalation or capabilities."""
    workloads = [r for r in rendered[overlay] if r["kind"] in ("Deployment", "StatefulSet")]
    assert len(workloads) >= len(PROCESSES)
    for workload in workloads:
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        mounts_by_volume = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"] + pod.get("initContainers", []):
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), where
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in mounts_by_volume[tmp[0]["name"]], where
        for container in pod["containers"]:
            assert "livenessProbe" in container and "readinessProbe" in container, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_probes_use_the_health_endpoints(rendered: dict[str, Any], overlay: str) -> None:
    for name, deployment in _by_kind(rendered[overlay], "Deployment").items():
        container = _app_container(deployment)
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == "/metrics", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_process_gets_its_configuration(rendered: dict[str, Any], overlay: str) -> None:
    resources = rendered[overlay]
    config = _generated(resources, "ConfigMap", "knowrithm-config")
    secret = _generated(resources, "Secret", "knowrithm-secrets")
    for name, deployment in _by_kind(resources, "Deployment").items():
        container = _app_container(deployment)
        available: set[str] = set()
        for source in container.get("envFrom", []):
            assert source == {"configMapRef": {"name": config["metadata"]["name"]}}
            available |= config["data"].keys()
        for env in container.get("env", []):
            if "value" in env:  # a fixed, non-secret value written in the manifest
                assert not PRIVATE_KEY_OWNERS.get(env["name"]), env
                available.add(env["name"])
                continue
            ref = env["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"]
            assert ref.get("optional") or ref["key"] in secret["data"], (name, ref["key"])
            available.add(env["name"])
        assert REQUIRED_ENV[name] <= available, (name, REQUIRED_ENV[name] - available)
        for key, owner in PRIVATE_KEY_OWNERS.items():
            assert (key in available) == (name == owner), (name, key)
        if name == "gateway":
            assert "DATABASE_URL" not in available
    # the gateway's upstream URLs point at the Services
    for name, (port, _) in PROCESSES.items():
        if name != "gateway":
            variable = f"GATEWAY_{name.upper().replace('-', '_')}_URL"
            assert config["data"][variable] == f"http://{name}:{port}"


def test_config_differs_per_environment(rendered: dict[str, Any]) -> None:
    dev = _generated(rendered["dev"], "ConfigMap", "knowrithm-config")["data"]
    production = _generated(rendered["production"], "ConfigMap", "knowrithm-config")["data"]
    assert dev["NATS_URL"] == "nats://nats:4222"
    assert dev["KNOWRITHM_ENV"] == "development"
    assert production["KNOWRITHM_ENV"] == "production"
    assert "svc.cluster.local" in production["NATS_URL"]


# ------------------------------------------------------------------- network policy


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if selector.get("matchLabels", {}).items() - labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies(rendered: dict[str, Any], overlay: str) -> None:
    """Only the gateway is open to the world; the other processes accept the gateway and
    Prometheus; every pod is covered by a default deny."""
    resources = rendered[overlay]
    policies = _by_kind(resources, "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}

    gateway_labels = {"app.kubernetes.io/name": "gateway"}
    for name, deployment in _by_kind(resources, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        rules = [
            rule
            for policy in policies.values()
            if _selects(policy["spec"]["podSelector"], labels)
            for rule in policy["spec"].get("ingress", [])
        ]
        open_to_all = [rule for rule in rules if not rule.get("from")]
        if name == "gateway":
            assert open_to_all == [{"ports": [{"protocol": "TCP", "port": "http"}]}]
            continue
        assert open_to_all == [], name
        sources = [peer for rule in rules for peer in rule["from"]]
        assert any(
            "namespaceSelector" not in peer and _selects(peer["podSelector"], gateway_labels)
            for peer in sources
        ), name
        for peer in sources:
            # outside the namespace, only Prometheus pods may connect (scraping /metrics)
            if "namespaceSelector" in peer:
                assert peer["podSelector"] == {
                    "matchLabels": {"app.kubernetes.io/name": "prometheus"}
                }
            else:
                assert _selects(peer["podSelector"], gateway_labels), name
        for rule in rules:
            assert rule["ports"] == [{"protocol": "TCP", "port": "http"}], name


# --------------------------------------------------------------- overlay specifics


def test_dev_runs_the_datastores_with_durable_nats(rendered: dict[str, Any]) -> None:
    resources = rendered["dev"]
    statefulsets = _by_kind(resources, "StatefulSet")
    assert set(statefulsets) == DATASTORES | MONITORING
    services = _by_kind(resources, "Service")
    assert DATASTORES <= services.keys()

    nats_config = _generated(resources, "ConfigMap", "nats-config")
    conf = nats_config["data"]["nats.conf"]
    assert re.search(r"jetstream\s*\{[^}]*\bsync_interval:\s*always\b", conf)
    assert conf == (REPO / "deploy" / "nats" / "nats.conf").read_text(), (
        "deploy/k8s/overlays/dev/nats.conf must stay identical to deploy/nats/nats.conf"
    )
    nats = statefulsets["nats"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in nats["volumes"]}
    assert volumes["config"]["configMap"]["name"] == nats_config["metadata"]["name"]
    assert nats["containers"][0]["command"] == [
        "nats-server",
        "--config",
        "/etc/nats-config/nats.conf",
    ]
    # the datastores are reachable from this namespace only
    policy = _by_kind(resources, "NetworkPolicy")["datastores-from-namespace"]["spec"]
    assert policy["ingress"] == [{"from": [{"podSelector": {}}]}]


def test_dev_runs_prometheus_and_grafana_with_every_dashboard(rendered: dict[str, Any]) -> None:
    """Grafana gets every JSON file of deploy/grafana/dashboards and the same provisioning
    docker-compose mounts; Prometheus scrapes every process's Service."""
    resources = rendered["dev"]
    dashboards = _generated(resources, "ConfigMap", "grafana-dashboards")
    on_disk = sorted(p.name for p in (REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
    assert sorted(dashboards["data"]) == on_disk, "list new dashboards in deploy/grafana/kustomization.yaml"
    for name in on_disk:
        assert dashboards["data"][name] == (REPO / "deploy" / "grafana" / "dashboards" / name).read_text()
    provisioning = _generated(resources, "ConfigMap", "grafana-provisioning")["data"]
    datasource = yaml.safe_load(provisioning["datasources.yaml"])["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load(provisioning["dashboards.yaml"])["providers"][0]
    grafana = _by_kind(resources, "StatefulSet")["grafana"]["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in grafana["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in grafana["volumes"]}
    dashboards_mount = mounts[provider["options"]["path"]]
    assert volumes[dashboards_mount["name"]]["configMap"]["name"] == dashboards["metadata"]["name"]

    config = _generated(resources, "ConfigMap", "prometheus-config")["data"]["prometheus.yml"]
    targets = {
        target
        for job in yaml.safe_load(config)["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert {f"{name}:{port}" for name, (port, _) in PROCESSES.items()} <= targets


def test_production_scales_and_keeps_pods_through_disruptions(rendered: dict[str, Any]) -> None:
    resources = rendered["production"]
    assert not _by_kind(resources, "StatefulSet"), "production uses external datastores"
    deployments = _by_kind(resources, "Deployment")
    hpas = _by_kind(resources, "HorizontalPodAutoscaler")
    pdbs = _by_kind(resources, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns the replica count"
        target = hpas[name]["spec"]["scaleTargetRef"]
        assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpas[name]["spec"]["minReplicas"] >= 2
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(pdbs[name]["spec"]["selector"], labels)
        assert pdbs[name]["spec"]["minAvailable"] == 1
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.1.0")


# ------------------------------------------------------------------------- secrets


def test_secret_inputs_are_examples_or_ignored() -> None:
    """The secretGenerator inputs are committed as examples only; the real files are
    ignored by git (deploy/k8s/.gitignore) and no private key is committed anywhere."""
    real_inputs = [
        "secrets.env",
        "assertion-private.pem",
        "assertion-public.pem",
        "jwt-private.pem",
        "lead-private.pem",
        "lead-public.pem",
    ]
    for overlay in OVERLAYS:
        assert (K8S / "overlays" / overlay / "secrets" / "secrets.env.example").is_file()
    for path in K8S.rglob("*"):
        if path.is_file() and not (path.parent.name == "secrets" and path.name in real_inputs):
            assert "PRIVATE KEY-----" not in path.read_text(errors="replace"), path
    if not shutil.which("git"):
        pytest.skip("git not installed")
    paths = [f"deploy/k8s/overlays/{o}/secrets/{f}" for o in OVERLAYS for f in real_inputs]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    assert sorted(ignored) == sorted(paths)
