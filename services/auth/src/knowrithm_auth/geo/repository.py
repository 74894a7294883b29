"""Every query of geo data and addresses.

Countries, states and cities are reference data shared by every company, so their queries
take no company id; addresses are tenant-owned and every address query takes one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.models import Address, City, Company, Country, State

# States and cities: each named once within the place it belongs to.
Place = TypeVar("Place", bound=State | City)


def _same_name(column: Any, name: str) -> Any:
    return func.lower(column) == name.lower()


def _parent(model: type[State] | type[City]) -> Any:
    """The column naming the place a state (its country) or a city (its state) belongs to."""
    return State.country_id if model is State else City.state_id


class GeoRepository:
    """Countries, states and cities."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def countries(self) -> Sequence[Country]:
        return (await self.session.scalars(select(Country).order_by(Country.name))).all()

    async def country(self, country_id: int) -> Country | None:
        return await self.session.get(Country, country_id)

    async def country_clash(
        self, *, name: str | None, iso_code: str | None, exclude_id: int | None = None
    ) -> str | None:
        """Which of `name` and `iso_code` another country already has, if any."""
        for field, column, value in (("name", Country.name, name), ("iso_code", Country.iso_code, iso_code)):
            if value is None:
                continue
            stmt = select(Country.id).where(_same_name(column, value))
            if exclude_id is not None:
                stmt = stmt.where(Country.id != exclude_id)
            if await self.session.scalar(stmt.limit(1)) is not None:
                return field
        return None

    async def state(self, state_id: int) -> State | None:
        return await self.session.get(State, state_id)

    async def city(self, city_id: int) -> City | None:
        return await self.session.get(City, city_id)

    async def places_in(self, model: type[Place], parent_id: int) -> Sequence[Place]:
        """The states of a country, or the cities of a state, by name."""
        stmt = select(model).where(_parent(model) == parent_id).order_by(model.name)
        return (await self.session.scalars(stmt)).all()

    async def name_taken(
        self, model: type[Place], *, parent_id: int, name: str, exclude_id: int | None = None
    ) -> bool:
        """Whether another state of the country (city of the state) has this name, in any case."""
        stmt = select(model.id).where(_parent(model) == parent_id, _same_name(model.name, name))
        if exclude_id is not None:
            stmt = stmt.where(model.id != exclude_id)
        return await self.session.scalar(stmt.limit(1)) is not None

    async def move_addresses_of_state(self, state_id: int, *, country_id: int) -> int:
        """Keep addresses consistent when a state is moved to another country (all companies)."""
        result = await self.session.execute(
            update(Address).where(Address.state_id == state_id).values(country_id=country_id)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def move_addresses_of_city(self, city_id: int, *, state_id: int, country_id: int) -> int:
        """Keep addresses consistent when a city is moved to another state (all companies)."""
        result = await self.session.execute(
            update(Address).where(Address.city_id == city_id).values(state_id=state_id, country_id=country_id)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class AddressRepository:
    """A company's addresses; every query is scoped by the company id."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def company_for_update(self, company_id: uuid.UUID) -> Company | None:
        """The live company, locked: address writes of one company run one at a time."""
        stmt = select(Company).where(Company.id == company_id, Company.not_deleted()).with_for_update()
        return await self.session.scalar(stmt)

    async def has_addresses(self, company_id: uuid.UUID) -> bool:
        stmt = select(Address.id).where(Address.company_id == company_id, Address.not_deleted())
        return await self.session.scalar(stmt.limit(1)) is not None

    async def clear_primary(self, company_id: uuid.UUID) -> None:
        await self.session.execute(
            update(Address)
            .where(Address.company_id == company_id, Address.is_primary.is_(True))
            .values(is_primary=False)
        )

    async def listed(self, company_id: uuid.UUID) -> Sequence[tuple[Address, City, State, Country]]:
        """The company's live addresses with their places, the primary one first."""
        stmt = (
            select(Address, City, State, Country)
            .join(City, City.id == Address.city_id)
            .join(State, State.id == Address.state_id)
            .join(Country, Country.id == Address.country_id)
            .where(Address.company_id == company_id, Address.not_deleted())
            .order_by(Address.is_primary.desc(), Address.created_at, Address.id)
        )
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]  # type: ignore[misc]

    def add(self, address: Address) -> None:
        self.session.add(address)
