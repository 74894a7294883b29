"""Auth tests: the real app on its own migrated database, embedded NATS and Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from knowrithm_common.crypto import generate_key
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.testing import KeyPair, gateway_call, service_client, service_env

ASSERTION_KEYS = KeyPair.generate()
JWT_KEYS = KeyPair.generate()
SUPER_ADMIN = {"email": "root@example.com", "password": "auth-tests-password"}


@pytest.fixture(scope="session")
def mail_dir(tmp_path_factory) -> Path:
    """The dev mail outbox the auth app writes .eml files to."""
    return tmp_path_factory.mktemp("auth-mail")


@pytest.fixture(scope="session")
def auth_env(stack, mail_dir) -> dict[str, str]:
    url = stack.create_database("auth_service_tests")
    upgrade(package="knowrithm_auth", schema="auth", url=url)
    # A Redis database of its own: the system-configuration snapshot auth publishes there is
    # platform-wide, and must not reach the other suites' processes on the same Redis.
    return service_env(
        database_url=url, nats_url=stack.nats_url, redis_url=stack.redis_url.rsplit("/", 1)[0] + "/10",
        assertion=ASSERTION_KEYS,
        extra={
            "KNOWRITHM_JWT_PRIVATE_KEY": JWT_KEYS.private_pem,
            "SUPER_ADMIN_EMAIL": SUPER_ADMIN["email"], "SUPER_ADMIN_PASSWORD": SUPER_ADMIN["password"],
            "AUTH_MAIL_OUTBOX_DIR": str(mail_dir), "AUTH_USAGE_CONSUMER": f"auth-usage-{uuid.uuid4().hex[:8]}",
            "AUTH_MAX_FAILED_LOGINS": "3", "ENCRYPTION_KEY": generate_key(),
            "AUTH_SYSTEM_CONFIG_REPUBLISH_SECONDS": "0.2",
        },
    )


async def _usage_consumer_subscribed(app) -> None:
    """The usage consumer starts with new events only: a test's events must not come before it."""
    await app.state.usage_consumer.wait_subscribed()


# One app per test module; tests keep apart by signing up companies of their own.
client = service_client("knowrithm_auth.main:create_app", env="auth_env", ready=_usage_consumer_subscribed)


@pytest.fixture
def signer():
    return ASSERTION_KEYS.signer()


@pytest.fixture
def call(client, signer):
    """call(method, path, principal=None, **kw): a request as the gateway would forward it."""
    return gateway_call(client, signer)
