"""Generated secrets of the embedded stack, persisted under <data_dir>/secrets (mode 0600)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

ASSERTION_PRIVATE = "KNOWRITHM_ASSERTION_PRIVATE_KEY"
ASSERTION_PUBLIC = "KNOWRITHM_ASSERTION_PUBLIC_KEY"
JWT_PRIVATE = "KNOWRITHM_JWT_PRIVATE_KEY"
JWT_PUBLIC = "KNOWRITHM_JWT_PUBLIC_KEY"
# Lead tokens of widget visitors: conversations signs them, the gateway verifies them.
LEAD_TOKEN_PRIVATE = "KNOWRITHM_LEAD_TOKEN_PRIVATE_KEY"  # noqa: S105 - a variable name
LEAD_TOKEN_PUBLIC = "KNOWRITHM_LEAD_TOKEN_PUBLIC_KEY"  # noqa: S105 - a variable name
#: kind (as in ProcessSpec.private_keys) -> (private variable, public variable, file stem)
KEY_PAIRS = {
    "assertion": (ASSERTION_PRIVATE, ASSERTION_PUBLIC, "assertion"),
    "jwt": (JWT_PRIVATE, JWT_PUBLIC, "jwt"),
    "lead": (LEAD_TOKEN_PRIVATE, LEAD_TOKEN_PUBLIC, "lead"),
}
SUPER_ADMIN_DEFAULTS = {
    "SUPER_ADMIN_EMAIL": "admin@knowrithm.local",
    "SUPER_ADMIN_USERNAME": "superadmin",
    "SUPER_ADMIN_FIRST_NAME": "Super",
    "SUPER_ADMIN_LAST_NAME": "Admin",
}
SUPER_ADMIN_PASSWORD = "SUPER_ADMIN_PASSWORD"  # noqa: S105 - a variable name, not a password
SUPER_ADMIN_VARS = (*SUPER_ADMIN_DEFAULTS, SUPER_ADMIN_PASSWORD)


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)  # never a half-written key, even if interrupted


def _public_pem(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def ensure_key_pair(secrets_dir: Path, stem: str) -> tuple[str, str]:
    """Return (private PEM PKCS8, public PEM SPKI) of an Ed25519 pair, generated once."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_path = secrets_dir / f"{stem}_private.pem"
    public_path = secrets_dir / f"{stem}_public.pem"
    if private_path.exists():
        private_pem = private_path.read_text(encoding="utf-8")
    else:
        private_pem = (
            Ed25519PrivateKey.generate()
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
        _write_secret(private_path, private_pem)
    public_pem = _public_pem(private_pem)
    if not public_path.exists() or public_path.read_text(encoding="utf-8") != public_pem:
        _write_secret(public_path, public_pem)
    return private_pem, public_pem


def key_env(secrets_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Return every key pair as variables; values in environ win, generated ones fill gaps."""
    out: dict[str, str] = {}
    for private_var, public_var, stem in KEY_PAIRS.values():
        private_pem = environ.get(private_var)
        if private_pem:
            # A private key from the environment implies its own public key, never ours.
            public_pem = environ.get(public_var) or _public_pem(private_pem)
        else:
            private_pem, generated_public = ensure_key_pair(secrets_dir, stem)
            public_pem = environ.get(public_var) or generated_public
        out[private_var] = private_pem
        out[public_var] = public_pem
    return out


def super_admin_env(secrets_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Return SUPER_ADMIN_*; environ wins, the password is generated once and persisted."""
    out = {var: environ.get(var) or default for var, default in SUPER_ADMIN_DEFAULTS.items()}
    password = environ.get(SUPER_ADMIN_PASSWORD)
    if not password:
        path = secrets_dir / "super_admin.json"
        try:
            password = str(json.loads(path.read_text(encoding="utf-8"))["password"])
        except (OSError, ValueError, KeyError):
            password = secrets.token_urlsafe(18)
            _write_secret(
                path,
                json.dumps({"email": out["SUPER_ADMIN_EMAIL"], "password": password}, indent=2),
            )
    out[SUPER_ADMIN_PASSWORD] = password
    return out


ENCRYPTION_KEY = "ENCRYPTION_KEY"


def encryption_env(secrets_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Return ENCRYPTION_KEY (secrets at rest); environ wins, else one generated and persisted."""
    if environ.get(ENCRYPTION_KEY):
        return {ENCRYPTION_KEY: environ[ENCRYPTION_KEY]}
    path = secrets_dir / "encryption.key"
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError:
        key = ""
    if not key:
        from cryptography.fernet import Fernet

        key = Fernet.generate_key().decode()
        _write_secret(path, key)
    return {ENCRYPTION_KEY: key}
