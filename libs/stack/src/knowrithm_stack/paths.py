"""Where the embedded stack keeps its data."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path


def repo_root(start: Path | None = None) -> Path:
    """Return the workspace root (the pyproject.toml with [tool.uv.workspace]), else cwd."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if "workspace" in data.get("tool", {}).get("uv", {}):
            return candidate
    return here


def default_data_dir() -> Path:
    """Return KNOWRITHM_DATA_DIR, else `<repo root>/.knowrithm`."""
    configured = os.environ.get("KNOWRITHM_DATA_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    return repo_root() / ".knowrithm"
