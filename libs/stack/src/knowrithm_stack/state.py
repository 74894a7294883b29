"""<data_dir>/state.json: what a running `up` looks like, for `down`, `status` and `logs`."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

_write_lock = threading.Lock()


def state_path(data_dir: Path) -> Path:
    """Return the state file of data_dir."""
    return data_dir / "state.json"


def process_identity(pid: int) -> float | None:
    """Return the start time of pid (to tell it from a recycled pid), None if gone."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    """Atomically replace the state file."""
    path = state_path(data_dir)
    with _write_lock:
        tmp = path.with_name(f"state.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, path)


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """Return the state file's content, None when absent or unreadable."""
    try:
        data = json.loads(state_path(data_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def supervisor_alive(state: dict[str, Any] | None) -> bool:
    """Return True when the state's supervisor process is still the one that wrote it."""
    if not state or "pid" not in state:
        return False
    created = process_identity(int(state["pid"]))
    return created is not None and abs(created - float(state.get("create_time", 0))) < 0.01


def new_state(data_dir: Path) -> dict[str, Any]:
    """Return the initial state of this (supervisor) process."""
    return {
        "pid": os.getpid(),
        "create_time": process_identity(os.getpid()),
        "data_dir": str(data_dir),
        "status": "starting",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "gateway_url": None,
        "processes": [],
    }


def remove_state(data_dir: Path, pid: int) -> None:
    """Delete the state file if it still belongs to pid."""
    state = read_state(data_dir)
    if state is not None and state.get("pid") == pid:
        state_path(data_dir).unlink(missing_ok=True)
