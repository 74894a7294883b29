"""System configuration use cases: read (sensitive values masked for admins), change (super
admins), the snapshot of the known keys auth publishes, and the sign-up switch. Flushes, never commits.

Every change takes the lock of the one revision row first, so changes happen one after the
other and each committed change has a higher revision than the one before: the Redis snapshot
is never overwritten by an older one (live.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.audit import audit
from knowrithm_auth.models import SystemConfigEntry, SystemConfigRevision, outbox
from knowrithm_auth.sysconfig.plan import Planned, plan_all
from knowrithm_auth.sysconfig.schemas import ConfigEntryIn, ConfigEntryOut
from knowrithm_common.crypto import SecretBox, UndecryptableSecret
from knowrithm_common.errors import Forbidden, ServiceUnavailable
from knowrithm_common.events import Actor
from knowrithm_common.events.auth import SystemConfigChangedV1
from knowrithm_common.sysconfig import KNOWN_KEYS, PUBLIC_SIGNUP, ConfigType

logger = logging.getLogger(__name__)
REVISION_ROW = 1


class EncryptionUnavailable(ServiceUnavailable):
    code = "encryption_unavailable"
    message = "Sensitive entries cannot be stored on this server: auth needs ENCRYPTION_KEY"


class SignupClosed(Forbidden):
    code = "signup_closed"
    message = "Company sign-up is closed on this platform; ask its administrators to create your company"


@dataclass(frozen=True, slots=True)
class Outcome:
    key: str
    change: str  # created | updated | removed | unchanged
    entry: SystemConfigEntry | None


async def list_entries(session: AsyncSession) -> Sequence[SystemConfigEntry]:
    """Every stored entry, by key."""
    return (await session.scalars(select(SystemConfigEntry).order_by(SystemConfigEntry.config_key))).all()


async def signup_open(session: AsyncSession) -> bool:
    """Whether anyone may sign up a company (the `public_signup_enabled` entry, true without one)."""
    value = await session.scalar(
        select(SystemConfigEntry.config_value).where(SystemConfigEntry.config_key == PUBLIC_SIGNUP.name)
    )
    return value is not False


async def snapshot(session: AsyncSession) -> tuple[int, dict[str, Any]]:
    """The revision and the known keys' values, read in one statement (so they belong together)."""
    rows = await session.execute(
        select(SystemConfigRevision.revision, SystemConfigEntry.config_key, SystemConfigEntry.config_value)
        .select_from(SystemConfigRevision)
        .outerjoin(SystemConfigEntry, SystemConfigEntry.config_key.in_(KNOWN_KEYS))
        .where(SystemConfigRevision.id == REVISION_ROW)
    )
    revision, values = 0, {}
    for row_revision, key, value in rows:
        revision = row_revision
        if key is not None and value is not None:
            values[key] = value
    return revision, values


async def apply_changes(
    session: AsyncSession, items: Sequence[ConfigEntryIn], *, batch: bool, box: SecretBox | None,
    actor: Actor,
) -> list[Outcome]:
    """Create, change or remove entries (all or none), recording an event and an audit entry per change."""
    counter = await session.scalar(
        select(SystemConfigRevision).where(SystemConfigRevision.id == REVISION_ROW).with_for_update()
    )
    assert counter is not None, "migration 0003 inserts the revision row"
    keys = [item.config_key for item in items]
    existing = {e.config_key: e for e in await session.scalars(
        select(SystemConfigEntry).where(SystemConfigEntry.config_key.in_(keys)))}
    plans = plan_all(items, existing, batch=batch)
    if box is None and any(p.is_sensitive and p.value is not None for p in plans):
        raise EncryptionUnavailable()
    outcomes = [await _apply(session, plan, existing.get(plan.key), box=box, actor=actor) for plan in plans]
    if any(o.change != "unchanged" for o in outcomes):
        counter.revision += 1
        await session.flush()
    return outcomes


async def _apply(
    session: AsyncSession, plan: Planned, entry: SystemConfigEntry | None, *, box: SecretBox | None,
    actor: Actor,
) -> Outcome:
    """Carry out one planned change, recording its event and audit entry (none when unchanged)."""
    if plan.value is None:
        if entry is None:
            return Outcome(plan.key, "unchanged", None)
        await session.delete(entry)
        change, entry = "removed", None
    elif entry is not None and _same(entry, plan, box):
        return Outcome(plan.key, "unchanged", entry)
    else:
        change = "updated" if entry is not None else "created"
        entry = _store(session, plan, entry, box=box, actor=actor)
    await session.flush()
    shown = None if plan.is_sensitive else plan.value
    data = SystemConfigChangedV1(
        config_key=plan.key, change=change, config_value=shown,
        config_type=plan.config_type.value if plan.config_type else None,
        is_sensitive=plan.is_sensitive if change != "removed" else None,
    )
    await outbox.add(session, data, company_id=None, actor=actor)
    detail: dict[str, Any] = {"change": change, "is_sensitive": plan.is_sensitive}
    if _small_scalar(shown):
        detail["config_value"] = shown
    await audit(session, action="system_config.changed", actor=actor, company_id=None,
                target_type="system_config", target_id=plan.key, detail=detail)
    return Outcome(plan.key, change, entry)


def _store(
    session: AsyncSession, plan: Planned, entry: SystemConfigEntry | None, *, box: SecretBox | None,
    actor: Actor,
) -> SystemConfigEntry:
    """The entry holding the planned value (a new one added to the session), encrypted if sensitive."""
    if entry is None:
        entry = SystemConfigEntry(config_key=plan.key)
        session.add(entry)
    assert plan.config_type is not None
    entry.config_type, entry.description = plan.config_type, plan.description
    entry.is_sensitive = plan.is_sensitive
    entry.updated_by = actor.id
    if plan.is_sensitive:
        assert box is not None
        entry.config_value, entry.encrypted_value = None, box.encrypt(json.dumps(plan.value))
    else:
        entry.config_value, entry.encrypted_value = plan.value, None
    return entry


def _same(entry: SystemConfigEntry, plan: Planned, box: SecretBox | None) -> bool:
    if (entry.config_type, entry.description, entry.is_sensitive) != (
        plan.config_type, plan.description, plan.is_sensitive
    ):
        return False
    return bool(stored_value(entry, box) == plan.value)


def stored_value(entry: SystemConfigEntry, box: SecretBox | None) -> Any:
    """The entry's value; None when a sensitive one cannot be decrypted here."""
    if not entry.is_sensitive:
        return entry.config_value
    if box is None or entry.encrypted_value is None:
        return None
    try:
        return json.loads(box.decrypt(entry.encrypted_value))
    except UndecryptableSecret:
        logger.error("system config %s cannot be decrypted with the configured keys", entry.config_key)
        return None


def _small_scalar(value: Any) -> bool:
    """Values short enough for an audit entry (long text and JSON stay in the event only)."""
    return isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 200)


def present(entry: SystemConfigEntry, *, reveal: bool, box: SecretBox | None) -> ConfigEntryOut:
    """The entry as a caller sees it: a sensitive value only for those allowed to `reveal` it."""
    value = stored_value(entry, box) if reveal or not entry.is_sensitive else None
    known = KNOWN_KEYS.get(entry.config_key)
    return ConfigEntryOut(
        config_key=entry.config_key, config_value=value, config_type=ConfigType(entry.config_type),
        description=entry.description, is_sensitive=entry.is_sensitive,
        is_masked=entry.is_sensitive and value is None,
        honoured_by=list(known.honoured_by) if known else [], updated_by=entry.updated_by,
        created_at=entry.created_at, updated_at=entry.updated_at,
    )


