"""A service's OpenAPI document names every error in the shared shape."""

from fastapi import FastAPI
from pydantic import BaseModel

from knowrithm_common.openapi import ERROR_REF, ERROR_SCHEMA, errors, install_openapi


class Item(BaseModel):
    name: str


def _document() -> dict:
    app = FastAPI()
    install_openapi(app)

    @app.post("/items/{item_id}", responses=errors(404, (409, "An item of this name exists")))
    async def replace(item_id: int, item: Item) -> Item:
        return item

    @app.get("/items")
    async def listing(limit: int = 10) -> list[Item]:
        return []

    @app.get("/ping")
    async def ping() -> str:
        return "pong"

    return app.openapi()


def _schema(response: dict) -> dict:
    return response["content"]["application/json"]["schema"]


def test_validation_errors_are_documented_in_the_shared_shape() -> None:
    document = _document()
    assert document["components"]["schemas"]["Error"] == ERROR_SCHEMA
    assert _schema(document["paths"]["/items"]["get"]["responses"]["422"]) == {"$ref": ERROR_REF}
    # FastAPI's own 422 body is not what the services answer, so it is gone.
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_an_operation_with_a_body_documents_400_for_a_body_that_is_not_json() -> None:
    document = _document()
    assert "400" in document["paths"]["/items/{item_id}"]["post"]["responses"]
    assert "400" not in document["paths"]["/items"]["get"]["responses"]
    assert document["paths"]["/ping"]["get"]["responses"].keys() == {"200"}


def test_routes_declare_their_own_statuses_with_their_own_words() -> None:
    responses = _document()["paths"]["/items/{item_id}"]["post"]["responses"]
    assert _schema(responses["404"]) == {"$ref": ERROR_REF}
    assert responses["409"]["description"] == "An item of this name exists"
