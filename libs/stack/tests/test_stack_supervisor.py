"""Supervisor, platform start-up (on stand-in processes), keys and ports."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from knowrithm_stack.child import StartupError
from knowrithm_stack.keys import key_env, super_admin_env
from knowrithm_stack.launcher import Platform, Stack
from knowrithm_stack.paths import repo_root
from knowrithm_stack.ports import PortInUseError, pick_port
from knowrithm_stack.processes import PROCESSES, ProcessSpec
from knowrithm_stack.service import MigrationError, ServiceProcess
from knowrithm_stack.supervisor import Supervisor, wait_ready

TESTS_DIR = Path(__file__).parent
# The stand-in modules live next to this file; child processes get the same via PYTHONPATH.
sys.path.insert(0, str(TESTS_DIR))
import stackdummy_table  # noqa: E402


def _environ() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    for var in (
        "KNOWRITHM_ASSERTION_PRIVATE_KEY",
        "KNOWRITHM_JWT_PRIVATE_KEY",
        "SUPER_ADMIN_PASSWORD",
        "KNOWRITHM_ENV",
    ):
        env.pop(var, None)
    return env


def _dummy(name: str, tmp_path: Path) -> ServiceProcess:
    spec = ProcessSpec(name, "stackdummy_app:create_app", 0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return ServiceProcess(spec, port=port, env=_environ(), log_dir=tmp_path / "logs")


def test_supervisor_restarts_killed_process_with_backoff(tmp_path: Path) -> None:
    events: list[tuple[str, str]] = []
    supervisor = Supervisor(backoff_initial=0.2, on_event=lambda n, e, d: events.append((n, e)))
    child = _dummy("dummy", tmp_path)
    supervisor.add(child)
    supervisor.start()
    try:
        supervisor.start_children()
        wait_ready([child], timeout=20)
        first = child.pid
        child.kill()
        deadline = time.monotonic() + 20
        while child.pid in (None, first) or not child.is_ready():
            assert time.monotonic() < deadline, child.log_tail()
            time.sleep(0.05)
        assert ("dummy", "exited") in events and ("dummy", "restarted") in events
        assert child.crashes == 1 and child.starts == 2
        assert supervisor._backoff["dummy"] == pytest.approx(0.4)  # doubled after one crash
        assert httpx.get(f"{child.url}/health/ready").json()["pid"] == child.pid
    finally:
        supervisor.close()
    assert child.pid is None


def test_stopped_process_is_not_restarted(tmp_path: Path) -> None:
    supervisor = Supervisor(backoff_initial=0.1, poll_interval=0.05)
    child = _dummy("dummy", tmp_path)
    supervisor.add(child)
    supervisor.start()
    try:
        supervisor.start_children()
        wait_ready([child], timeout=20)
        child.stop()
        time.sleep(0.5)
        assert child.pid is None and child.crashes == 0
    finally:
        supervisor.close()


def test_wait_ready_fails_fast_with_log_tail(tmp_path: Path) -> None:
    supervisor = Supervisor(backoff_initial=0.05, poll_interval=0.05)
    spec = ProcessSpec("broken", "stackdummy_missing:create_app", 0)
    child = ServiceProcess(
        spec, port=pick_port(0, name="broken"), env=_environ(), log_dir=tmp_path / "logs"
    )
    supervisor.add(child)
    supervisor.start()
    try:
        supervisor.start_children()
        started = time.monotonic()
        with pytest.raises(StartupError, match="broken exited 3 times") as info:
            wait_ready([child], timeout=60)
        assert "stackdummy_missing" in str(info.value)  # uvicorn's import error, from the log
        assert time.monotonic() - started < 30
    finally:
        supervisor.close()


def test_platform_runs_migrations_and_processes(stack: Stack, tmp_path: Path) -> None:
    database_url = stack.create_database("stack_platform_dummy")
    platform = Platform(
        stack,
        data_dir=tmp_path,
        database_url=database_url,
        ports={},
        strict_ports=(),
        processes=stackdummy_table.PROCESSES,
        environ=_environ(),
    )
    platform.start(timeout=30)
    try:
        with psycopg.connect(database_url) as conn:
            assert conn.execute("select to_regclass('stackdummy_migrated')").fetchone() != (None,)
        assert "migrated ok" in (tmp_path / "logs" / "migrate-auth.log").read_text()

        envs = {
            name: httpx.get(f"{platform.url(name)}/env").json()
            for name in ("auth", "worker", "gateway")
        }
        for env in envs.values():
            assert env["DATABASE_URL"] == database_url
            assert env["NATS_URL"] == stack.nats_url and env["REDIS_URL"] == stack.redis_url
            assert env["KNOWRITHM_ENV"] == "development"
            assert env["KNOWRITHM_ASSERTION_PUBLIC_KEY"].startswith("-----BEGIN PUBLIC KEY-----")
            assert env["GATEWAY_AUTH_URL"] == platform.url("auth")
            assert env["GATEWAY_WORKER_URL"] == platform.url("worker")
        assert envs["gateway"]["KNOWRITHM_ASSERTION_PRIVATE_KEY"].startswith(
            "-----BEGIN PRIVATE KEY"
        )
        assert envs["auth"]["KNOWRITHM_JWT_PRIVATE_KEY"].startswith("-----BEGIN PRIVATE KEY")
        assert envs["auth"]["SUPER_ADMIN_EMAIL"] == "admin@knowrithm.local"
        assert envs["auth"]["SUPER_ADMIN_PASSWORD"] == platform.env["SUPER_ADMIN_PASSWORD"]
        assert envs["worker"]["KNOWRITHM_ASSERTION_PRIVATE_KEY"] is None
        assert envs["worker"]["KNOWRITHM_JWT_PRIVATE_KEY"] is None
        assert envs["worker"]["SUPER_ADMIN_PASSWORD"] is None
        assert envs["auth"]["KNOWRITHM_ASSERTION_PRIVATE_KEY"] is None
        assert platform.gateway_url == platform.url("gateway")

        old = platform.pid("worker")
        platform.kill("worker")
        new = platform.wait_restarted("worker", old, timeout=20)
        assert new != old
        assert "starting worker" in platform.log_tail("worker")
    finally:
        platform.stop()
    assert platform.processes["auth"].pid is None
    assert stack.servers["postgres"].is_ready()  # the platform stops its processes only


def test_migration_failure_is_loud(stack: Stack, tmp_path: Path) -> None:
    platform = Platform(
        stack,
        data_dir=tmp_path,
        database_url=stack.database_url,
        ports={},
        strict_ports=(),
        processes=stackdummy_table.FAILING,
        environ=_environ(),
    )
    with pytest.raises(MigrationError) as info:
        platform.start(timeout=10)
    message = str(info.value)
    assert "stackdummy_migrate_fail" in message and "exit 3" in message
    assert 'relation "nope" does not exist' in message and "running revision 0002" in message
    assert platform.processes == {}  # nothing started after a failed migration


def test_strict_port_names_the_holder() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"port {port} for gateway .*pid {os.getpid()}"):
            pick_port(port, name="gateway", strict=True)
        assert pick_port(port, name="auth") != port  # services fall back to a free port


def test_keys_generated_once_private(tmp_path: Path) -> None:
    first = key_env(tmp_path / "secrets", {})
    second = key_env(tmp_path / "secrets", {})
    assert first == second
    assert first["KNOWRITHM_ASSERTION_PRIVATE_KEY"] != first["KNOWRITHM_JWT_PRIVATE_KEY"]
    for path in (tmp_path / "secrets").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    private = serialization.load_pem_private_key(first["KNOWRITHM_JWT_PRIVATE_KEY"].encode(), None)
    public = serialization.load_pem_public_key(first["KNOWRITHM_JWT_PUBLIC_KEY"].encode())
    assert isinstance(private, Ed25519PrivateKey) and isinstance(public, Ed25519PublicKey)
    public.verify(private.sign(b"x"), b"x")


def test_environment_values_win(tmp_path: Path) -> None:
    mine = key_env(tmp_path / "a", {})
    keys = key_env(tmp_path / "b", {"KNOWRITHM_JWT_PRIVATE_KEY": mine["KNOWRITHM_JWT_PRIVATE_KEY"]})
    assert keys["KNOWRITHM_JWT_PUBLIC_KEY"] == mine["KNOWRITHM_JWT_PUBLIC_KEY"]  # derived from it
    admin = super_admin_env(tmp_path / "s", {"SUPER_ADMIN_EMAIL": "me@example.com"})
    assert admin["SUPER_ADMIN_EMAIL"] == "me@example.com"
    assert (
        admin["SUPER_ADMIN_USERNAME"] == "superadmin" and len(admin["SUPER_ADMIN_PASSWORD"]) >= 24
    )
    assert (
        super_admin_env(tmp_path / "s", {})["SUPER_ADMIN_PASSWORD"] == admin["SUPER_ADMIN_PASSWORD"]
    )
    saved = json.loads((tmp_path / "s" / "super_admin.json").read_text())
    assert saved["password"] == admin["SUPER_ADMIN_PASSWORD"]
    assert (
        super_admin_env(tmp_path / "s", {"SUPER_ADMIN_PASSWORD": "x"})["SUPER_ADMIN_PASSWORD"]
        == "x"
    )


def test_process_table_matches_architecture() -> None:
    names = [spec.name for spec in PROCESSES]
    assert names == [
        "auth",
        "agents",
        "conversations",
        "ingestion",
        "analytics",
        "ingestion-worker",
        "console",
        "gateway",
    ]
    assert [s.migrate for s in PROCESSES if s.migrate] == [
        f"knowrithm_{n}.migrate"
        for n in ("auth", "agents", "conversations", "ingestion", "analytics")
    ]
    gateway = PROCESSES[-1]
    assert gateway.public and gateway.port == 8543 and gateway.private_keys == ("assertion",)
    assert {s.upstream_env for s in PROCESSES if not s.public} >= {
        "GATEWAY_AUTH_URL",
        "GATEWAY_INGESTION_WORKER_URL",
    }


def test_repo_root_is_the_workspace(tmp_path: Path) -> None:
    root = repo_root(Path(__file__).parent)
    assert (root / "pyproject.toml").read_text().count("[tool.uv.workspace]") == 1
    assert repo_root(tmp_path) == tmp_path.resolve()


def test_plugin_import_is_cheap() -> None:
    code = (
        "import sys, knowrithm_stack.pytest_plugin; "
        "heavy = ('psycopg', 'rich', 'httpx', 'cryptography', 'knowrithm_stack.launcher'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
