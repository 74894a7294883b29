"""The environment each platform process is started with."""

from __future__ import annotations

from collections.abc import Mapping

from .keys import KEY_PAIRS, SUPER_ADMIN_VARS
from .processes import ProcessSpec


def platform_env(
    environ: Mapping[str, str],
    *,
    urls: Mapping[str, str],
    upstreams: Mapping[str, str],
    secrets: Mapping[str, str],
    knowrithm_env: str = "development",
) -> dict[str, str]:
    """Return the union environment of all processes.

    environ is inherited; KNOWRITHM_ENV and secrets only fill gaps (values already in environ
    win). urls (DATABASE_URL, NATS_URL, REDIS_URL) and upstreams (GATEWAY_*_URL) always win:
    they describe the servers and processes this stack actually runs.
    """
    env = dict(environ)
    env.setdefault("KNOWRITHM_ENV", knowrithm_env)
    for var, value in secrets.items():
        if not env.get(var):
            env[var] = value
    env.update(urls)
    env.update(upstreams)
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the log file when written, not at exit
    return env


def env_for(spec: ProcessSpec, env: Mapping[str, str]) -> dict[str, str]:
    """Return env minus the secrets spec must not see (other processes' private keys)."""
    out = dict(env)
    for kind, (private_var, _public, _stem) in KEY_PAIRS.items():
        if kind not in spec.private_keys:
            out.pop(private_var, None)
    if not spec.super_admin:
        for var in SUPER_ADMIN_VARS:
            out.pop(var, None)
    return out
