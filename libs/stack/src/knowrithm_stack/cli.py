"""`knowrithm-stack up | down | status | logs`: the embedded platform from one command."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn
from rich.table import Table

from .child import StartupError
from .keys import SUPER_ADMIN_PASSWORD
from .launcher import Platform, Stack
from .paths import default_data_dir
from .ports import PortInUseError
from .probes import url_ok
from .processes import PROCESSES, ProcessSpec
from .servers import ExternalServer, PostgresServer
from .service import MigrationError
from .state import (
    new_state,
    process_identity,
    read_state,
    remove_state,
    state_path,
    supervisor_alive,
    write_state,
)

console = Console()
err_console = Console(stderr=True)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop_requested(signum: int, frame: FrameType | None) -> None:
    # The first signal starts the shutdown; later ones are ignored so they cannot abort it
    # halfway. They do come: Ctrl-C reaches both `uv run` and us, and uv forwards it again.
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _already_stopping)
    raise KeyboardInterrupt


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    pass


def _entries(stack: Stack, platform: Platform) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for server in stack.servers.values():
        if isinstance(server, PostgresServer):
            probe = server.dsn("postgres")
        else:
            probe = server.url
        pid = server.pid
        rows.append(
            {
                "name": server.name,
                "kind": server.kind,
                "pid": pid,
                "url": server.url,
                "probe_kind": server.kind,
                "probe_url": probe,
                "external": isinstance(server, ExternalServer),
                "create_time": process_identity(pid) if pid else None,
            }
        )
    for process in platform.processes.values():
        pid = process.pid
        rows.append(
            {
                "name": process.name,
                "kind": "process",
                "pid": pid,
                "url": process.url,
                "probe_kind": "http",
                "probe_url": process.ready_url,
                "external": False,
                "create_time": process_identity(pid) if pid else None,
            }
        )
    return rows


def _table(rows: list[dict[str, Any]], *, live: bool) -> Table:
    table = Table(title="Knowrithm (embedded)")
    for column in ("process", "pid", "URL", "status"):
        table.add_column(column)
    for row in rows:
        if live:
            ok = url_ok(row["probe_kind"], row["probe_url"])
            status = "[green]ready[/]" if ok else "[red]not ready[/]"
        else:
            status = "[green]ready[/]"
        pid = "external" if row.get("external") else str(row.get("pid") or "-")
        table.add_row(row["name"], pid, row["url"], status)
    return table


def cmd_up(args: argparse.Namespace) -> int:
    """Start everything in the foreground and supervise it until Ctrl-C or SIGTERM."""
    data_dir: Path = args.data_dir
    existing = read_state(data_dir)
    if supervisor_alive(existing):
        assert existing is not None
        err_console.print(
            f"[red]already running[/] (pid {existing['pid']}, data dir {data_dir}); "
            "`knowrithm-stack down` stops it"
        )
        return 1
    data_dir.mkdir(parents=True, exist_ok=True)
    # Supervisor events are shown by on_event below; without a handler, logging's last-resort
    # handler would print every warning a second time.
    logging.getLogger("knowrithm_stack").addHandler(logging.NullHandler())
    state = new_state(data_dir)
    holder: dict[str, Any] = {}

    def on_event(name: str, event: str, detail: str) -> None:
        if event == "started" and state["status"] == "starting":
            return
        console.log(f"{name}: {event} {detail}")
        if "stack" in holder and state["status"] == "running":
            state["processes"] = _entries(holder["stack"], holder["platform"])
            write_state(data_dir, state)

    try:
        stack = Stack(data_dir, on_event=on_event)
        platform = Platform(stack, data_dir=data_dir, processes=_process_table(args.process_table))
    except PortInUseError as exc:
        err_console.print(f"[red]cannot start:[/] {exc}")
        return 1
    holder.update(stack=stack, platform=platform)
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _stop_requested)
    write_state(data_dir, state)
    code = 0
    try:
        _start_with_progress(stack, platform)
        state.update(
            status="running", gateway_url=platform.gateway_url, processes=_entries(stack, platform)
        )
        write_state(data_dir, state)
        _print_ready(state["processes"], platform)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    except (StartupError, MigrationError) as exc:
        err_console.print(f"[red]startup failed:[/] {exc}")
        code = 1
    finally:
        for sig in _STOP_SIGNALS:
            signal.signal(sig, _already_stopping)
        console.print("stopping…")
        stack.stop()
        remove_state(data_dir, state["pid"])
        console.print("stopped")
    return code


def _process_table(ref: str | None) -> tuple[ProcessSpec, ...]:
    # `module:ATTR` naming another process table; lets tests drive the real `up` command.
    if not ref:
        return PROCESSES
    module, _, attr = ref.partition(":")
    return tuple(getattr(importlib.import_module(module), attr or "PROCESSES"))


def _start_with_progress(stack: Stack, platform: Platform) -> None:
    columns = (
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.fields[label]:<18}"),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}

        def task(key: str, label: str) -> TaskID:
            if key not in tasks:
                tasks[key] = progress.add_task("waiting", total=1, label=label)
            return tasks[key]

        def on_server(name: str, status: str) -> None:
            done = status.startswith("ready") or status == "external"
            progress.update(task(name, name), description=status, completed=1 if done else 0)

        def on_migration(name: str, status: str) -> None:
            done = status.startswith("migrated")
            progress.update(
                task("migrate:" + name, f"migrate {name}"),
                description=status,
                completed=1 if done else 0,
            )

        def on_process(name: str, status: str) -> None:
            done = status == "ready"
            progress.update(task(name, name), description=status, completed=1 if done else 0)

        def on_platform(name: str, status: str) -> None:
            if status.startswith("migrat"):
                on_migration(name, status)
            else:
                on_process(name, status)

        stack.start(on_progress=on_server)
        platform.start(on_progress=on_platform)


def _print_ready(rows: list[dict[str, Any]], platform: Platform) -> None:
    console.print(_table(rows, live=False))
    console.print(f"\nGateway: [bold]{platform.gateway_url}[/]")
    if "console" in platform.processes:
        console.print(f"Console: [bold]{platform.gateway_url}/console/[/]")
    console.print(
        f"Super admin: {platform.secrets['SUPER_ADMIN_EMAIL']} / "
        f"{platform.secrets[SUPER_ADMIN_PASSWORD]}"
    )
    console.print(f"Mail outbox (no SMTP_SERVER set): {platform.mail_dir}")
    console.print("Ctrl-C stops everything.")


def cmd_down(args: argparse.Namespace) -> int:
    """Stop a running `up` (SIGTERM, then SIGKILL after a timeout) and any leftover child."""
    import psutil

    data_dir: Path = args.data_dir
    state = read_state(data_dir)
    if not supervisor_alive(state):
        console.print("nothing running")
        if state is not None:
            state_path(data_dir).unlink(missing_ok=True)  # stale: its supervisor is gone
        return 0
    assert state is not None
    proc = psutil.Process(int(state["pid"]))
    console.print(f"stopping knowrithm-stack (pid {proc.pid})…")
    proc.terminate()
    if not _wait_gone(proc, args.timeout):
        # Its children get their stop signal from the kernel when it dies (PDEATHSIG).
        proc.kill()
        _wait_gone(proc, 10)
    for row in state.get("processes", []):
        pid, created = row.get("pid"), row.get("create_time")
        if pid and created and process_identity(pid) == created:
            psutil.Process(pid).kill()
    state_path(data_dir).unlink(missing_ok=True)
    console.print("stopped")
    return 0


def _wait_gone(proc: Any, timeout: float) -> bool:
    # Not psutil's wait(): an exited process not yet reaped by its parent is a zombie that
    # pid_exists() still reports, though it holds nothing any more.
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def cmd_status(args: argparse.Namespace) -> int:
    """Print the processes of a running `up` with live health; exit 1 if nothing runs."""
    state = read_state(args.data_dir)
    if not supervisor_alive(state):
        console.print("nothing running")
        return 1
    assert state is not None
    console.print(
        f"knowrithm-stack pid {state['pid']} ({state['status']}) since {state['started_at']}"
    )
    if state.get("processes"):
        console.print(_table(state["processes"], live=True))
    if state.get("gateway_url"):
        console.print(f"Gateway: {state['gateway_url']}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    """Print (and with -f follow) one log, or all logs prefixed with their name."""
    log_dir = args.data_dir / "logs"
    available = sorted(p.stem for p in log_dir.glob("*.log"))
    if args.name and args.name not in available:
        err_console.print(
            f"no log named {args.name!r}; available: {', '.join(available) or 'none'}"
        )
        return 1
    names = [args.name] if args.name else available
    paths = {name: log_dir / f"{name}.log" for name in names}
    prefix = len(names) > 1
    offsets: dict[str, int] = {}
    for name, path in paths.items():
        data = path.read_bytes()
        lines = data.decode("utf-8", "replace").splitlines()[-args.lines :]
        for line in lines:
            _emit_line(name, line, prefix)
        offsets[name] = len(data)
    if not args.follow:
        return 0
    try:
        while True:
            time.sleep(0.3)
            for name, path in paths.items():
                offsets[name] = _follow(name, path, offsets[name], prefix)
    except KeyboardInterrupt:
        return 0


def _follow(name: str, path: Path, offset: int, prefix: bool) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size < offset:
        offset = 0  # truncated or replaced
    if size == offset:
        return offset
    with path.open("rb") as handle:
        handle.seek(offset)
        chunk = handle.read()
    # Only whole lines; a partial last line is printed once it is complete.
    end = chunk.rfind(b"\n") + 1
    for line in chunk[:end].decode("utf-8", "replace").splitlines():
        _emit_line(name, line, prefix)
    return offset + end


def _emit_line(name: str, line: str, prefix: bool) -> None:
    sys.stdout.write(f"{name:<18}| {line}\n" if prefix else f"{line}\n")
    sys.stdout.flush()


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of knowrithm-stack."""
    parser = argparse.ArgumentParser(prog="knowrithm-stack", description=__doc__)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data dir (default: $KNOWRITHM_DATA_DIR or <repo>/.knowrithm)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start everything in the foreground")
    up.add_argument("--process-table", default=None, help=argparse.SUPPRESS)
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop a running `up`")
    down.add_argument("--timeout", type=float, default=60.0, help="seconds before SIGKILL")
    down.set_defaults(func=cmd_down)
    sub.add_parser("status", help="show processes and their health").set_defaults(func=cmd_status)
    logs = sub.add_parser("logs", help="show logs")
    logs.add_argument("name", nargs="?", help="process or server name (default: all)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=100, help="lines of history (default 100)")
    logs.set_defaults(func=cmd_logs)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the knowrithm-stack console script."""
    args = build_parser().parse_args(argv)
    args.data_dir = (args.data_dir or default_data_dir()).resolve()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
