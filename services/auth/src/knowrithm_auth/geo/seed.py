"""GET /address-seed: countries (ISO 3166-1) and their top-level subdivisions (ISO 3166-2).

The catalogue is pycountry's copy of the ISO tables: country names in English (the short
common name where ISO's is a long form, "South Korea" rather than "Korea, Republic of"),
alpha-3 codes, and subdivision names as ISO publishes them, in the local language
("Bayern", "Île-de-France"). Cities are not seeded: no complete, open city list ships with
pycountry, and a partial one would look authoritative while missing most places, so cities
come from POST /city.

Seeding is idempotent and safe to run twice at once: a transaction-scoped advisory lock puts
concurrent calls in line, and every insert is `ON CONFLICT DO NOTHING`, so rows a super admin
already created (by name or ISO code) are kept as they are and counted as existing.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pycountry
from sqlalchemy import Table, func, literal, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.models import Country, State

# Any fixed 64-bit number works; this one spells "geoseed" so it is recognisable in pg_locks.
SEED_LOCK_KEY = 0x67656F73656564
CITIES_NOTE = (
    "Cities are not seeded (no complete open city list is bundled); add them with POST /api/v1/city."
)


@dataclass(frozen=True)
class IsoCountry:
    name: str
    alpha_2: str
    alpha_3: str


@dataclass(frozen=True)
class Catalogue:
    countries: tuple[IsoCountry, ...]
    states: dict[str, tuple[str, ...]]  # alpha-2 code -> top-level subdivision names


@dataclass(frozen=True)
class SeedCounts:
    countries_created: int
    states_created: int
    countries_total: int
    states_total: int


def _clean(name: str) -> str:
    """ISO names sometimes carry alternates or codes in brackets: "Wales [Cymru GB-CYM]"."""
    return re.sub(r"\s*\[[^\]]*\]", "", name).strip()


@functools.cache
def catalogue() -> Catalogue:
    """The ISO tables, read from pycountry once per process."""
    countries = tuple(
        IsoCountry(name=getattr(c, "common_name", None) or c.name, alpha_2=c.alpha_2, alpha_3=c.alpha_3)
        for c in sorted(pycountry.countries, key=lambda c: c.alpha_3)
    )
    by_country: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for sub in pycountry.subdivisions:
        if sub.parent_code is None:
            by_country[sub.country_code].append((_clean(sub.name), sub.type))
    states: dict[str, tuple[str, ...]] = {}
    for code, subs in by_country.items():
        seen = [name for name, _ in subs]
        # Two subdivisions of one country may share a name (Chiayi city and Chiayi county).
        names = {name if seen.count(name) == 1 else f"{name} ({kind})" for name, kind in subs}
        states[code] = tuple(sorted(names))
    return Catalogue(countries=countries, states=states)


async def seed_geo(session: AsyncSession) -> SeedCounts:
    """Insert the ISO countries and subdivisions that are missing; report what was added."""
    await session.execute(select(func.pg_advisory_xact_lock(SEED_LOCK_KEY)))
    data = catalogue()
    countries, states = Country.__table__, State.__table__
    countries_created = await _insert_missing(
        session, countries,
        name=[c.name for c in data.countries], iso_code=[c.alpha_3 for c in data.countries],
    )
    ids = await _country_ids(session, data.countries)
    pairs = [
        (ids[c.alpha_2], name)
        for c in data.countries if c.alpha_2 in ids
        for name in data.states.get(c.alpha_2, ())
    ]
    states_created = await _insert_missing(
        session, states, country_id=[p[0] for p in pairs], name=[p[1] for p in pairs]
    )
    return SeedCounts(
        countries_created=countries_created,
        states_created=states_created,
        countries_total=await session.scalar(select(func.count()).select_from(countries)) or 0,
        states_total=await session.scalar(select(func.count()).select_from(states)) or 0,
    )


async def _insert_missing(session: AsyncSession, table: Table, **columns: list[Any]) -> int:
    """`INSERT … SELECT unnest(…) ON CONFLICT DO NOTHING`: one statement and one array per column.

    Much faster than a multi-row VALUES list of thousands of rows (nothing to compile per row),
    and a repeat call costs a few index probes. Returns how many rows were new.
    """
    source = select(*(
        func.unnest(literal(values, ARRAY(table.c[name].type))).label(name)
        for name, values in columns.items()
    ))
    stmt = (
        insert(table).from_select(list(columns), source).on_conflict_do_nothing().returning(table.c.id)
    )
    return len((await session.execute(stmt)).all())


async def _country_ids(session: AsyncSession, countries: tuple[IsoCountry, ...]) -> dict[str, int]:
    """Alpha-2 code -> row id, matching on the ISO code first and the name second.

    A country a super admin created by hand ("Germany" with code "DE") is matched by name and
    receives the ISO subdivisions; the seed never renames or re-codes it.
    """
    rows = (
        await session.execute(
            select(Country.id, Country.name, Country.iso_code).where(
                or_(Country.iso_code.in_([c.alpha_3 for c in countries]),
                    Country.name.in_([c.name for c in countries]))
            )
        )
    ).all()
    by_code = {r.iso_code: r.id for r in rows if r.iso_code}
    by_name = {r.name: r.id for r in rows}
    ids: dict[str, int] = {}
    for c in countries:
        found = by_code.get(c.alpha_3) or by_name.get(c.name)
        if found is not None:
            ids[c.alpha_2] = found
    return ids


def seed_message(counts: SeedCounts) -> str:
    """What the seed did, in words."""
    if counts.countries_created or counts.states_created:
        done = (f"Added {counts.countries_created} countries (ISO 3166-1) and "
                f"{counts.states_created} states/subdivisions (ISO 3166-2).")
    else:
        done = "Reference data already seeded; nothing added."
    return f"{done} {CITIES_NOTE}"
