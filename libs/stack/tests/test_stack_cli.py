"""The real `knowrithm-stack` command on stand-in processes: up, status, logs, down, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

TESTS_DIR = Path(__file__).parent
CLI = str(Path(sys.executable).parent / "knowrithm-stack")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("DATABASE_URL", "NATS_URL", "REDIS_URL"):
        env.pop(var, None)  # the CLI starts its own servers here
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _cli(data_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "--data-dir", str(data_dir), *args],
        env=_env(**extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _up(data_dir: Path, table: str = "PROCESSES", **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "--data-dir", str(data_dir), "up", "--process-table", f"stackdummy_table:{table}"],
        env=_env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_running(data_dir: Path, proc: subprocess.Popen[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"up exited {proc.returncode}:\n{proc.stdout.read()}")
        try:
            state = json.loads((data_dir / "state.json").read_text())
            if state["status"] == "running":
                return state
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"up not running after {timeout}s:\n{proc.stdout.read()}")


def _all_pids(state: dict) -> list[int]:
    return [row["pid"] for row in state["processes"] if row["pid"]] + [state["pid"]]


def _assert_gone(pids: list[int], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        alive = [
            pid
            for pid in pids
            if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        ]
        if not alive:
            return
        assert time.monotonic() < deadline, f"still alive: {alive}"
        time.sleep(0.1)


def test_up_status_logs_then_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    proc = _up(tmp_path)
    try:
        state = _wait_running(tmp_path, proc)
        names = [row["name"] for row in state["processes"]]
        assert names == ["postgres", "nats", "redis", "auth", "worker", "gateway"]
        assert httpx.get(state["gateway_url"] + "/health/ready").status_code == 200

        status = _cli(tmp_path, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "gateway" in status.stdout and "not ready" not in status.stdout

        logs = _cli(tmp_path, "logs", "auth")
        assert logs.returncode == 0 and "starting auth" in logs.stdout
        assert _cli(tmp_path, "logs", "nope").returncode == 1
        everything = _cli(tmp_path, "logs", "-n", "5")
        assert "postgres" in everything.stdout and "| " in everything.stdout

        pids = _all_pids(state)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "super admin" in out.lower() and "admin@knowrithm.local" in out
    assert "stopped" in out
    _assert_gone(pids)
    assert not (tmp_path / "state.json").exists()
    assert _cli(tmp_path, "status").returncode == 1


def test_down_stops_a_running_up(tmp_path: Path) -> None:
    proc = _up(tmp_path)
    try:
        state = _wait_running(tmp_path, proc)
        again = _up(tmp_path)  # a second `up` on the same data dir refuses
        assert again.wait(timeout=30) == 1 and "already running" in again.stdout.read()
        down = _cli(tmp_path, "down", "--timeout", "20")
        assert down.returncode == 0, down.stdout + down.stderr
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_gone(_all_pids(state))
    assert _cli(tmp_path, "down").stdout.strip() == "nothing running"


def test_killed_supervisor_leaves_no_orphans(tmp_path: Path) -> None:
    proc = _up(tmp_path)
    try:
        state = _wait_running(tmp_path, proc)
        proc.kill()  # SIGKILL: no cleanup code runs; the kernel signals the children
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_gone(_all_pids(state), timeout=30)
    assert _cli(tmp_path, "status").returncode == 1


def test_taken_gateway_port_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = _up(tmp_path, "GATEWAY_ON_PORT", STACKDUMMY_GATEWAY_PORT=str(port))
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"port {port} for gateway is already in use" in out and str(os.getpid()) in out
    assert not (tmp_path / "postgres").exists()  # nothing was started
