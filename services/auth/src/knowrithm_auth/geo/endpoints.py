"""HTTP API of geo: countries, states and cities (reference data) and the caller's company addresses.

Reading reference data is public; changing it is for super admins, because it is shared by
every company (a refused change is audited too). Addresses belong to the caller's company:
company admins and API keys with the `write` scope add them, any member or `read` key lists
them; a super admin names the company with `?company_id=` (400 `company_id_required` without).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, params

from knowrithm_auth.audit import refusals_audited
from knowrithm_auth.geo import seed, service
from knowrithm_auth.geo.schemas import (
    MAX_ID,
    AddressCreate,
    AddressList,
    AddressOut,
    CityCreate,
    CityOut,
    CityRef,
    CityUpdate,
    CountryCreate,
    CountryDetailOut,
    CountryOut,
    CountryUpdate,
    Ref,
    SeedResult,
    StateCreate,
    StateDetailOut,
    StateOut,
    StateUpdate,
)
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.errors import Forbidden
from knowrithm_common.identity import Principal, current_principal
from knowrithm_common.openapi import errors
from knowrithm_common.tenancy import (
    ADMINS,
    MEMBERS,
    CompanyRead,
    Subject,
    SuperAdmin,
    actor_of,
    subject_dependency,
)

router = APIRouter()

CountryId = Annotated[int, Path(ge=1, le=MAX_ID, description="Country ID")]
StateId = Annotated[int, Path(ge=1, le=MAX_ID, description="State ID")]
CityId = Annotated[int, Path(ge=1, le=MAX_ID, description="City ID")]


def _adds_addresses(subject: Annotated[Subject, Depends(subject_dependency(MEMBERS, "write"))]) -> Subject:
    """Company admins add addresses; API keys are judged by their `write` scope instead of a role."""
    if subject.principal.kind != "api_key" and subject.principal.role not in ADMINS:
        raise Forbidden("Only the company's admins (or its API keys with `write`) add addresses")
    return subject


AddressWriter = Annotated[Subject, Depends(_adds_addresses)]


def _audited(action: str) -> list[params.Depends]:
    """A change of reference data; a refused one is audited under `action` too."""
    return [refusals_audited(action)]


# -- seed


@router.get("/api/v1/address-seed", response_model=SeedResult, tags=["Addresses"])
async def seed_reference_data(
    request: Request, session: Session, principal: Principal = Depends(current_principal)
) -> SeedResult:
    """Populate countries (ISO 3166-1) and states (ISO 3166-2); repeat calls add nothing (public)."""
    counts = await service.seed_reference_data(session, actor=actor_of(request, principal))
    return SeedResult(
        message=seed.seed_message(counts), countries_created=counts.countries_created,
        states_created=counts.states_created, cities_created=0,
        countries_total=counts.countries_total, states_total=counts.states_total,
    )


# -- countries


@router.get("/api/v1/country", response_model=list[CountryOut], tags=["Countries"])
async def list_countries(session: Session) -> list[CountryOut]:
    """List all countries, by name (public)."""
    return [CountryOut.of(c) for c in await service.list_countries(session)]


@router.post("/api/v1/country", status_code=201, response_model=CountryOut, tags=["Countries"],
             responses=errors(409), dependencies=_audited("country.created"))
async def create_country(body: CountryCreate, session: Session, subject: SuperAdmin) -> CountryOut:
    """Create a country (super admin)."""
    return CountryOut.of(await service.create_country(session, body, actor=subject.actor))


@router.get("/api/v1/country/{country_id}", response_model=CountryDetailOut, tags=["Countries"])
async def get_country(country_id: CountryId, session: Session) -> CountryDetailOut:
    """A country with its states (public)."""
    country, states = await service.list_states(session, country_id)
    return CountryDetailOut(
        **CountryOut.of(country).model_dump(), state=[Ref(id=s.id, name=s.name) for s in states]
    )


@router.patch("/api/v1/country/{country_id}", response_model=CountryOut, tags=["Countries"],
              responses=errors(409), dependencies=_audited("country.updated"))
async def update_country(
    country_id: CountryId, body: CountryUpdate, session: Session, subject: SuperAdmin
) -> CountryOut:
    """Rename a country or change its ISO code (super admin)."""
    return CountryOut.of(await service.update_country(session, country_id, data=body, actor=subject.actor))


# -- states


@router.post("/api/v1/state", status_code=201, response_model=StateOut, tags=["States"],
             responses=errors(404, 409), dependencies=_audited("state.created"))
async def create_state(body: StateCreate, session: Session, subject: SuperAdmin) -> StateOut:
    """Create a state in a country (super admin)."""
    return StateOut.of(*await service.create_state(session, body, actor=subject.actor))


@router.get("/api/v1/state/country/{country_id}", response_model=list[StateOut], tags=["States"])
async def list_states(country_id: CountryId, session: Session) -> list[StateOut]:
    """A country's states, by name (public)."""
    country, states = await service.list_states(session, country_id)
    return [StateOut.of(s, country) for s in states]


@router.get("/api/v1/state/{state_id}", response_model=StateDetailOut, tags=["States"])
async def get_state(state_id: StateId, session: Session) -> StateDetailOut:
    """A state with its country and cities (public)."""
    state, country, cities = await service.list_cities(session, state_id)
    return StateDetailOut(
        **StateOut.of(state, country).model_dump(),
        city=[CityRef(id=c.id, name=c.name, postal_code_prefix=c.postal_code_prefix) for c in cities],
    )


@router.patch("/api/v1/state/{state_id}", response_model=StateOut, tags=["States"], responses=errors(409),
              dependencies=_audited("state.updated"))
async def update_state(
    state_id: StateId, body: StateUpdate, session: Session, subject: SuperAdmin
) -> StateOut:
    """Rename a state or move it to another country (super admin)."""
    return StateOut.of(*await service.update_state(session, state_id, data=body, actor=subject.actor))


# -- cities


@router.post("/api/v1/city", status_code=201, response_model=CityOut, tags=["Cities"],
             responses=errors(404, 409), dependencies=_audited("city.created"))
async def create_city(body: CityCreate, session: Session, subject: SuperAdmin) -> CityOut:
    """Create a city in a state (super admin)."""
    return CityOut.of(*await service.create_city(session, body, actor=subject.actor))


@router.get("/api/v1/city/state/{state_id}", response_model=list[CityOut], tags=["Cities"])
async def list_cities(state_id: StateId, session: Session) -> list[CityOut]:
    """A state's cities, by name (public)."""
    state, country, cities = await service.list_cities(session, state_id)
    return [CityOut.of(c, state, country) for c in cities]


@router.get("/api/v1/city/{city_id}", response_model=CityOut, tags=["Cities"])
async def get_city(city_id: CityId, session: Session) -> CityOut:
    """A city with its state and country (public)."""
    return CityOut.of(*await service.get_city(session, city_id))


@router.patch("/api/v1/city/{city_id}", response_model=CityOut, tags=["Cities"], responses=errors(409),
              dependencies=_audited("city.updated"))
async def update_city(city_id: CityId, body: CityUpdate, session: Session, subject: SuperAdmin) -> CityOut:
    """Rename a city, change its postal prefix or move it to another state (super admin)."""
    return CityOut.of(*await service.update_city(session, city_id, data=body, actor=subject.actor))


# -- addresses


@router.post("/api/v1/address", status_code=201, response_model=AddressOut, tags=["Addresses"],
             responses=errors(400, 404), dependencies=_audited("address.created"))
async def create_address(body: AddressCreate, session: Session, subject: AddressWriter) -> AddressOut:
    """Add an address to the caller's company (a super admin names it with `company_id`); the first,
    or one marked primary, becomes its primary."""
    created = await service.create_address(session, subject.company, data=body, actor=subject.actor)
    return AddressOut.of(*created)


@router.get("/api/v1/address", response_model=AddressList, tags=["Addresses"], responses=errors(400))
async def list_addresses(session: Session, subject: CompanyRead) -> AddressList:
    """The caller's company's addresses (a super admin names the company), the primary one first."""
    rows = await service.list_addresses(session, subject.company)
    return AddressList(address=[AddressOut.of(*row) for row in rows])
