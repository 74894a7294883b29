"""Request and response models of geo data and addresses (field names from the Knowrithm API).

Request bodies are strict: an id given as a string or a flag given as a number is a 422, not a
silent conversion. Ids are bounded to Postgres' `integer` so a huge number is a 422, not a 500.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from knowrithm_auth.models import Address, City, Country, State
from knowrithm_common.schemas import Body, PatchBody

MAX_ID = 2**31 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
IsoCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2,3}$")
]
PostalPrefix = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)]


class Ref(BaseModel):
    id: int
    name: str


class CountryCreate(Body):
    name: Name
    iso_code: IsoCode | None = Field(None, description="ISO 3166-1 code, e.g. USA or US")


class CountryUpdate(PatchBody):
    not_null = ("name",)

    name: Name | None = None
    iso_code: IsoCode | None = None


class CountryOut(BaseModel):
    id: int
    name: str
    iso_code: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, country: Country) -> CountryOut:
        return cls(
            id=country.id, name=country.name, iso_code=country.iso_code,
            created_at=country.created_at, updated_at=country.updated_at,
        )


class CountryDetailOut(CountryOut):
    state: list[Ref]


class StateCreate(Body):
    name: Name
    country_id: Id


class StateUpdate(PatchBody):
    not_null = ("name", "country_id")

    name: Name | None = None
    country_id: Id | None = None


class StateOut(BaseModel):
    id: int
    name: str
    country: Ref
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, state: State, country: Country) -> StateOut:
        return cls(
            id=state.id, name=state.name, country=Ref(id=country.id, name=country.name),
            created_at=state.created_at, updated_at=state.updated_at,
        )


class CityRef(Ref):
    postal_code_prefix: str | None


class StateDetailOut(StateOut):
    city: list[CityRef]


class CityCreate(Body):
    name: Name
    state_id: Id
    postal_code_prefix: PostalPrefix | None = None


class CityUpdate(PatchBody):
    not_null = ("name", "state_id")

    name: Name | None = None
    state_id: Id | None = None
    postal_code_prefix: PostalPrefix | None = None


class CityOut(BaseModel):
    id: int
    name: str
    postal_code_prefix: str | None
    state: Ref
    country: Ref
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, city: City, state: State, country: Country) -> CityOut:
        return cls(
            id=city.id, name=city.name, postal_code_prefix=city.postal_code_prefix,
            state=Ref(id=state.id, name=state.name), country=Ref(id=country.id, name=country.name),
            created_at=city.created_at, updated_at=city.updated_at,
        )


class AddressCreate(Body):
    street_address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    city_id: Id
    state_id: Id
    country_id: Id
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    lan: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="Longitude")] | None = None
    is_primary: bool = False


class AddressOut(BaseModel):
    id: int
    street_address: str
    postal_code: str | None
    lat: float | None
    lan: float | None
    is_primary: bool
    city: Ref
    state: Ref
    country: Ref
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, address: Address, city: City, state: State, country: Country) -> AddressOut:
        return cls(
            id=address.id, street_address=address.street_address, postal_code=address.postal_code,
            lat=address.lat, lan=address.lan, is_primary=address.is_primary,
            city=Ref(id=city.id, name=city.name), state=Ref(id=state.id, name=state.name),
            country=Ref(id=country.id, name=country.name),
            created_at=address.created_at, updated_at=address.updated_at,
        )


class AddressList(BaseModel):
    address: list[AddressOut]


class SeedResult(BaseModel):
    message: str
    countries_created: int
    states_created: int
    cities_created: int
    countries_total: int
    states_total: int
