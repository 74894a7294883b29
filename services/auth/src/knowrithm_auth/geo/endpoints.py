"""HTTP API of geo: countries, states and cities (reference data) and the caller's company addresses.

Reading reference data is public; changing it is for super admins, because it is shared by
every company. Addresses belong to the caller's company: company admins and API keys with the
`write` scope add them, any member or `read` key lists them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from knowrithm_auth.audit import audit, audit_refusal
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
from knowrithm_auth.http import Session, actor_of
from knowrithm_common.errors import Forbidden
from knowrithm_common.identity import (
    Principal,
    Role,
    authenticated,
    current_principal,
    require_roles,
    require_scopes,
)
from knowrithm_common.openapi import errors

router = APIRouter()

CountryId = Annotated[int, Path(ge=1, le=MAX_ID, description="Country ID")]
StateId = Annotated[int, Path(ge=1, le=MAX_ID, description="State ID")]
CityId = Annotated[int, Path(ge=1, le=MAX_ID, description="City ID")]


class CompanyRequired(Forbidden):
    code = "company_required"
    message = ("Addresses belong to a company and this caller has none (a super admin: "
               "impersonate a company admin to manage its addresses)")


Check = Callable[[Request], object]


def _has_company(request: Request) -> Principal:
    principal = authenticated(request)
    if principal.company_id is None:
        raise CompanyRequired()
    return principal


def _company_admin_if_user(request: Request) -> Principal:
    """Users must be company admins; API keys are judged by their scopes instead."""
    principal = authenticated(request)
    if principal.kind == "api_key":
        return principal
    return require_roles(Role.ADMIN)(request)


def _member(request: Request) -> Principal:
    principal = authenticated(request)
    if principal.kind not in ("user", "api_key"):
        raise Forbidden("Only members of the company and its API keys may read its addresses")
    return principal


def guarded(action: str, *checks: Check) -> Callable[..., Awaitable[Principal]]:
    """A dependency running `checks` in order; a refusal is audited under `action`, then raised."""

    async def dependency(request: Request) -> Principal:
        principal = authenticated(request)
        try:
            for check in checks:
                check(request)
        except Forbidden as exc:
            await audit_refusal(
                request.app.state.db, action=action, actor=actor_of(request, principal),
                company_id=principal.company_id, reason=exc.message,
            )
            raise
        return principal

    return dependency


def super_admin(action: str) -> Callable[..., Awaitable[Principal]]:
    """Only a super admin changes reference data: it is shared by every company."""
    return guarded(action, require_roles(Role.SUPER_ADMIN))


address_writer = guarded("address.created", _has_company, require_scopes(["write"]), _company_admin_if_user)
address_reader = [Depends(_has_company), Depends(require_scopes(["read"])), Depends(_member)]


# -- seed


@router.get("/api/v1/address-seed", response_model=SeedResult, tags=["Addresses"])
async def seed_reference_data(
    request: Request, session: Session, principal: Principal = Depends(current_principal)
) -> SeedResult:
    """Populate countries (ISO 3166-1) and states (ISO 3166-2); repeat calls add nothing (public)."""
    counts = await seed.seed_geo(session)
    if counts.countries_created or counts.states_created:
        await audit(session, action="geo.seeded", actor=actor_of(request, principal), company_id=None,
                    detail={"countries_created": counts.countries_created,
                            "states_created": counts.states_created})
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
             responses=errors(409))
async def create_country(
    request: Request, body: CountryCreate, session: Session,
    principal: Principal = Depends(super_admin("country.created")),
) -> CountryOut:
    """Create a country (super admin)."""
    return CountryOut.of(await service.create_country(session, body, actor=actor_of(request, principal)))


@router.get("/api/v1/country/{country_id}", response_model=CountryDetailOut, tags=["Countries"])
async def get_country(country_id: CountryId, session: Session) -> CountryDetailOut:
    """A country with its states (public)."""
    country, states = await service.list_states(session, country_id)
    return CountryDetailOut(
        **CountryOut.of(country).model_dump(), state=[Ref(id=s.id, name=s.name) for s in states]
    )


@router.patch("/api/v1/country/{country_id}", response_model=CountryOut, tags=["Countries"],
              responses=errors(409))
async def update_country(
    request: Request, country_id: CountryId, body: CountryUpdate, session: Session,
    principal: Principal = Depends(super_admin("country.updated")),
) -> CountryOut:
    """Rename a country or change its ISO code (super admin)."""
    country = await service.update_country(
        session, country_id, data=body, actor=actor_of(request, principal)
    )
    return CountryOut.of(country)


# -- states


@router.post("/api/v1/state", status_code=201, response_model=StateOut, tags=["States"],
             responses=errors(404, 409))
async def create_state(
    request: Request, body: StateCreate, session: Session,
    principal: Principal = Depends(super_admin("state.created")),
) -> StateOut:
    """Create a state in a country (super admin)."""
    return StateOut.of(*await service.create_state(session, body, actor=actor_of(request, principal)))


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


@router.patch("/api/v1/state/{state_id}", response_model=StateOut, tags=["States"], responses=errors(409))
async def update_state(
    request: Request, state_id: StateId, body: StateUpdate, session: Session,
    principal: Principal = Depends(super_admin("state.updated")),
) -> StateOut:
    """Rename a state or move it to another country (super admin)."""
    return StateOut.of(*await service.update_state(
        session, state_id, data=body, actor=actor_of(request, principal)
    ))


# -- cities


@router.post("/api/v1/city", status_code=201, response_model=CityOut, tags=["Cities"],
             responses=errors(404, 409))
async def create_city(
    request: Request, body: CityCreate, session: Session,
    principal: Principal = Depends(super_admin("city.created")),
) -> CityOut:
    """Create a city in a state (super admin)."""
    return CityOut.of(*await service.create_city(session, body, actor=actor_of(request, principal)))


@router.get("/api/v1/city/state/{state_id}", response_model=list[CityOut], tags=["Cities"])
async def list_cities(state_id: StateId, session: Session) -> list[CityOut]:
    """A state's cities, by name (public)."""
    state, country, cities = await service.list_cities(session, state_id)
    return [CityOut.of(c, state, country) for c in cities]


@router.get("/api/v1/city/{city_id}", response_model=CityOut, tags=["Cities"])
async def get_city(city_id: CityId, session: Session) -> CityOut:
    """A city with its state and country (public)."""
    return CityOut.of(*await service.get_city(session, city_id))


@router.patch("/api/v1/city/{city_id}", response_model=CityOut, tags=["Cities"], responses=errors(409))
async def update_city(
    request: Request, city_id: CityId, body: CityUpdate, session: Session,
    principal: Principal = Depends(super_admin("city.updated")),
) -> CityOut:
    """Rename a city, change its postal prefix or move it to another state (super admin)."""
    return CityOut.of(*await service.update_city(
        session, city_id, data=body, actor=actor_of(request, principal)
    ))


# -- addresses


@router.post("/api/v1/address", status_code=201, response_model=AddressOut, tags=["Addresses"],
             responses=errors(400, 404))
async def create_address(
    request: Request, body: AddressCreate, session: Session,
    principal: Principal = Depends(address_writer),
) -> AddressOut:
    """Add an address to the caller's company; the first, or one marked primary, becomes its primary."""
    assert principal.company_id is not None  # the dependency refuses callers without a company
    created = await service.create_address(
        session, principal.company_id, data=body, actor=actor_of(request, principal)
    )
    return AddressOut.of(*created)


@router.get("/api/v1/address", response_model=AddressList, tags=["Addresses"], dependencies=address_reader)
async def list_addresses(
    session: Session, principal: Principal = Depends(authenticated),
) -> AddressList:
    """The caller's company's addresses, the primary one first."""
    assert principal.company_id is not None
    rows = await service.list_addresses(session, principal.company_id)
    return AddressList(address=[AddressOut.of(*row) for row in rows])
