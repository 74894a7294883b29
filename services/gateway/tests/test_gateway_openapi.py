"""The merged OpenAPI document states the error statuses the gateway itself can answer."""

from __future__ import annotations

from typing import Any

from knowrithm_common.openapi import ERROR_REF, ERROR_SCHEMA, error_response
from knowrithm_gateway.openapi import merge_documents
from knowrithm_gateway.policies import JSON_BODY_BYTES, OperationTable
from knowrithm_gateway.routing import RouteTable

BODY = {"content": {"application/json": {"schema": {"type": "object"}}}}


def _merged(paths: dict[str, Any]) -> dict[str, Any]:
    document = {"openapi": "3.1.0", "info": {"title": "conversations", "version": "0"}, "paths": paths}
    return merge_documents({"conversations": document}, routes=RouteTable(), operations=OperationTable())


def _op(**fields: Any) -> dict[str, Any]:
    return {"responses": {"200": {"description": "ok"}}, **fields}


def test_every_error_status_names_the_shared_error_schema() -> None:
    merged = _merged({"/api/v1/conversation": {"get": _op()}})
    assert merged["components"]["schemas"]["Error"] == ERROR_SCHEMA
    responses = merged["paths"]["/api/v1/conversation"]["get"]["responses"]
    errors = {status: r for status, r in responses.items() if status >= "400"}
    assert errors.keys() == {"401", "403", "429", "502", "503", "504"}
    assert all(r["content"]["application/json"]["schema"] == {"$ref": ERROR_REF} for r in errors.values())
    assert responses["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_ids_in_the_path_and_bodies_add_404_and_413_with_the_operations_limit() -> None:
    merged = _merged({"/api/v1/conversation/{conversation_id}/chat": {"post": _op(requestBody=BODY)}})
    responses = merged["paths"]["/api/v1/conversation/{conversation_id}/chat"]["post"]["responses"]
    assert {"404", "413"} <= responses.keys()
    assert str(JSON_BODY_BYTES) in responses["413"]["description"]


def test_public_operations_document_no_403_from_the_gateway() -> None:
    merged = _merged({"/api/v1/lead/register": {"post": _op(requestBody=BODY)}})
    responses = merged["paths"]["/api/v1/lead/register"]["post"]["responses"]
    assert "401" in responses  # credentials sent anyway are verified
    assert "403" not in responses


def test_a_services_own_description_of_a_status_wins() -> None:
    own = error_response(404, "No such agent in your company")
    merged = _merged({"/api/v1/conversation": {"get": _op(responses={"200": {"description": "ok"}, "404": own})}})
    assert merged["paths"]["/api/v1/conversation"]["get"]["responses"]["404"] == own
