"""Geo use cases: reference data (countries, states, cities) and company addresses. Flushes only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.audit import audit
from knowrithm_auth.geo import seed
from knowrithm_auth.geo.repository import AddressRepository, GeoRepository
from knowrithm_auth.geo.schemas import (
    AddressCreate,
    CityCreate,
    CityUpdate,
    CountryCreate,
    CountryUpdate,
    StateCreate,
    StateUpdate,
)
from knowrithm_auth.models import Address, City, Country, State
from knowrithm_common.errors import BadRequest, CompanyNotFound, Conflict, NotFound
from knowrithm_common.events import Actor


class CountryNotFound(NotFound):
    code, message = "country_not_found", "Country not found"


class StateNotFound(NotFound):
    code, message = "state_not_found", "State not found"


class CityNotFound(NotFound):
    code, message = "city_not_found", "City not found"


class CountryExists(Conflict):
    code, message = "country_exists", "A country with this name or ISO code already exists"


class StateExists(Conflict):
    code, message = "state_exists", "A state with this name already exists in this country"


class CityExists(Conflict):
    code, message = "city_exists", "A city with this name already exists in this state"


class InconsistentAddress(BadRequest):
    code, message = "inconsistent_address", "The city, state and country of the address do not match"


async def _flush(session: AsyncSession, conflict: Conflict) -> None:
    """Flush, turning a unique violation that raced past the check into the domain's 409."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise conflict from exc


async def _create(
    session: AsyncSession, place: Country | State | City, *, conflict: Conflict, actor: Actor,
    detail: dict[str, Any],
) -> None:
    """Add a place to the reference data and audit it (`country.created`, `state.created`, ...)."""
    session.add(place)
    await _flush(session, conflict)
    kind = type(place).__name__.lower()
    await audit(session, action=f"{kind}.created", actor=actor, company_id=None, target_type=kind,
                target_id=place.id, detail=detail)


async def seed_reference_data(session: AsyncSession, *, actor: Actor) -> seed.SeedCounts:
    """Add the ISO countries and states that are missing (audited when any was added)."""
    counts = await seed.seed_geo(session)
    if counts.countries_created or counts.states_created:
        await audit(session, action="geo.seeded", actor=actor, company_id=None,
                    detail={"countries_created": counts.countries_created,
                            "states_created": counts.states_created})
    return counts


# -- countries


async def list_countries(session: AsyncSession) -> Sequence[Country]:
    """Every country, by name."""
    return await GeoRepository(session).countries()


async def get_country(session: AsyncSession, country_id: int) -> Country:
    """A country, or CountryNotFound."""
    country = await GeoRepository(session).country(country_id)
    if country is None:
        raise CountryNotFound(f"Country {country_id} not found")
    return country


async def create_country(session: AsyncSession, data: CountryCreate, *, actor: Actor) -> Country:
    """Add a country to the reference data."""
    clash = await GeoRepository(session).country_clash(name=data.name, iso_code=data.iso_code)
    if clash:
        raise CountryExists(f"A country with this {clash.replace('_', ' ')} already exists")
    country = Country(name=data.name, iso_code=data.iso_code)
    await _create(session, country, conflict=CountryExists(), actor=actor, detail=data.model_dump())
    return country


async def update_country(
    session: AsyncSession, country_id: int, *, data: CountryUpdate, actor: Actor
) -> Country:
    """Rename a country or change its ISO code."""
    country = await get_country(session, country_id)
    changes = _changed(country, data.changes())
    clash = await GeoRepository(session).country_clash(
        name=changes.get("name"), iso_code=changes.get("iso_code"), exclude_id=country.id
    )
    if clash:
        raise CountryExists(f"A country with this {clash.replace('_', ' ')} already exists")
    await _apply(session, country, changes, conflict=CountryExists(), actor=actor, action="country.updated")
    return country


# -- states


async def get_state(session: AsyncSession, state_id: int) -> tuple[State, Country]:
    """A state and its country, or StateNotFound."""
    state = await GeoRepository(session).state(state_id)
    if state is None:
        raise StateNotFound(f"State {state_id} not found")
    return state, await get_country(session, state.country_id)


async def list_states(session: AsyncSession, country_id: int) -> tuple[Country, Sequence[State]]:
    """A country's states, by name."""
    country = await get_country(session, country_id)
    return country, await GeoRepository(session).places_in(State, country_id)


async def create_state(session: AsyncSession, data: StateCreate, *, actor: Actor) -> tuple[State, Country]:
    """Add a state (top-level subdivision) to a country."""
    country = await get_country(session, data.country_id)
    if await GeoRepository(session).name_taken(State, parent_id=country.id, name=data.name):
        raise StateExists(f"{country.name} already has a state named {data.name!r}")
    state = State(country_id=country.id, name=data.name)
    await _create(session, state, conflict=StateExists(), actor=actor, detail=data.model_dump())
    return state, country


async def update_state(
    session: AsyncSession, state_id: int, *, data: StateUpdate, actor: Actor
) -> tuple[State, Country]:
    """Rename a state or move it to another country (its addresses follow)."""
    repo = GeoRepository(session)
    state, country = await get_state(session, state_id)
    changes = _changed(state, data.changes())
    if "country_id" in changes:
        country = await get_country(session, changes["country_id"])
    name = str(changes.get("name", state.name))
    if changes and await repo.name_taken(State, parent_id=country.id, name=name, exclude_id=state.id):
        raise StateExists(f"{country.name} already has a state named {name!r}")
    moved = 0
    if "country_id" in changes:
        moved = await repo.move_addresses_of_state(state.id, country_id=country.id)
    await _apply(session, state, changes, conflict=StateExists(), actor=actor, action="state.updated",
                 extra={"addresses_moved": moved} if moved else None)
    return state, country


# -- cities


async def get_city(session: AsyncSession, city_id: int) -> tuple[City, State, Country]:
    """A city with its state and country, or CityNotFound."""
    city = await GeoRepository(session).city(city_id)
    if city is None:
        raise CityNotFound(f"City {city_id} not found")
    state, country = await get_state(session, city.state_id)
    return city, state, country


async def list_cities(session: AsyncSession, state_id: int) -> tuple[State, Country, Sequence[City]]:
    """A state's cities, by name."""
    state, country = await get_state(session, state_id)
    return state, country, await GeoRepository(session).places_in(City, state_id)


async def create_city(
    session: AsyncSession, data: CityCreate, *, actor: Actor
) -> tuple[City, State, Country]:
    """Add a city to a state."""
    state, country = await get_state(session, data.state_id)
    if await GeoRepository(session).name_taken(City, parent_id=state.id, name=data.name):
        raise CityExists(f"{state.name} already has a city named {data.name!r}")
    city = City(state_id=state.id, name=data.name, postal_code_prefix=data.postal_code_prefix)
    await _create(session, city, conflict=CityExists(), actor=actor, detail=data.model_dump())
    return city, state, country


async def update_city(
    session: AsyncSession, city_id: int, *, data: CityUpdate, actor: Actor
) -> tuple[City, State, Country]:
    """Rename a city, change its postal prefix or move it to another state (its addresses follow)."""
    repo = GeoRepository(session)
    city, state, country = await get_city(session, city_id)
    changes = _changed(city, data.changes())
    if "state_id" in changes:
        state, country = await get_state(session, changes["state_id"])
    name = str(changes.get("name", city.name))
    if changes and await repo.name_taken(City, parent_id=state.id, name=name, exclude_id=city.id):
        raise CityExists(f"{state.name} already has a city named {name!r}")
    moved = 0
    if "state_id" in changes:
        moved = await repo.move_addresses_of_city(city.id, state_id=state.id, country_id=country.id)
    await _apply(session, city, changes, conflict=CityExists(), actor=actor, action="city.updated",
                 extra={"addresses_moved": moved} if moved else None)
    return city, state, country


def _changed(entity: Country | State | City, requested: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in requested.items() if getattr(entity, k) != v}


async def _apply(
    session: AsyncSession, entity: Country | State | City, changes: dict[str, Any], *,
    conflict: Conflict, actor: Actor, action: str, extra: dict[str, Any] | None = None,
) -> None:
    """Set the changed fields, flush and audit; an update that changes nothing writes nothing."""
    if not changes:
        return
    before = {k: getattr(entity, k) for k in changes}
    for key, value in changes.items():
        setattr(entity, key, value)
    await _flush(session, conflict)
    await audit(session, action=action, actor=actor, company_id=None, target_type=action.split(".")[0],
                target_id=entity.id, detail={"before": before, "after": changes, **(extra or {})})


# -- addresses


async def create_address(
    session: AsyncSession, company_id: uuid.UUID, *, data: AddressCreate, actor: Actor
) -> tuple[Address, City, State, Country]:
    """Add an address to a company; the first one, or one marked primary, becomes its primary address."""
    city, state, country = await _place_of(session, data)
    repo = AddressRepository(session)
    company = await repo.company_for_update(company_id)
    if company is None:
        raise CompanyNotFound()
    primary = data.is_primary or not await repo.has_addresses(company_id)
    if primary:
        await repo.clear_primary(company_id)
    address = Address(company_id=company_id, **data.model_dump(exclude={"is_primary"}), is_primary=primary)
    repo.add(address)
    await session.flush()
    if primary:
        company.address_id = address.id
    await audit(session, action="address.created", actor=actor, company_id=company_id, target_type="address",
                target_id=address.id, detail={**data.model_dump(), "is_primary": primary})
    return address, city, state, country


async def _place_of(session: AsyncSession, data: AddressCreate) -> tuple[City, State, Country]:
    """The address's places: each must exist, the city in the state and the state in the country."""
    repo = GeoRepository(session)
    city, state, country = (
        await repo.city(data.city_id), await repo.state(data.state_id), await repo.country(data.country_id)
    )
    if country is None:
        raise CountryNotFound(f"Country {data.country_id} not found")
    if state is None:
        raise StateNotFound(f"State {data.state_id} not found")
    if city is None:
        raise CityNotFound(f"City {data.city_id} not found")
    if state.country_id != country.id:
        raise InconsistentAddress(
            f"State {state.name!r} ({state.id}) is not in country {country.name!r} ({country.id})",
            detail={"state_id": state.id, "country_id": country.id, "state_country_id": state.country_id},
        )
    if city.state_id != state.id:
        raise InconsistentAddress(
            f"City {city.name!r} ({city.id}) is not in state {state.name!r} ({state.id})",
            detail={"city_id": city.id, "state_id": state.id, "city_state_id": city.state_id},
        )
    return city, state, country


async def list_addresses(
    session: AsyncSession, company_id: uuid.UUID
) -> Sequence[tuple[Address, City, State, Country]]:
    """The company's addresses, the primary one first."""
    return await AddressRepository(session).listed(company_id)
