"""HTTP API of the system configuration: GET (admins; sensitive values masked) and PATCH (super admins)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from knowrithm_auth.audit import refusals_audited
from knowrithm_auth.bodies import parse_body
from knowrithm_auth.sysconfig import service
from knowrithm_auth.sysconfig.schemas import (
    ConfigBatchIn,
    ConfigChangeOut,
    ConfigEntryIn,
    ConfigListOut,
    ConfigPatchOut,
    KnownKeyOut,
)
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.db import after_commit
from knowrithm_common.openapi import errors
from knowrithm_common.sysconfig import KNOWN_KEYS
from knowrithm_common.tenancy import ADMINS, Subject, SuperAdmin, subject_dependency

router = APIRouter(tags=["System configuration"])

# Company admins and super admins (API keys with `admin`): the configuration is the platform's,
# so no company is named.
ConfigReader = Annotated[Subject, Depends(subject_dependency(ADMINS, "admin", company_query=False))]


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` put in place: `#/$defs/...` means nothing inside OpenAPI."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        return [resolve(item) for item in node] if isinstance(node, list) else node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


_PATCH_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"oneOf": [
    _inline(ConfigEntryIn.model_json_schema()), _inline(ConfigBatchIn.model_json_schema()),
]}}}}}


@router.get("/api/v1/config", response_model=ConfigListOut)
async def get_config(request: Request, session: Session, subject: ConfigReader) -> ConfigListOut:
    """Every configuration entry (sensitive values to super admins only) and the platform's own keys."""
    entries = await service.list_entries(session)
    box = request.app.state.settings.secret_box()
    stored = {e.config_key for e in entries}
    return ConfigListOut(
        configs=[service.present(e, reveal=subject.is_super_admin, box=box) for e in entries],
        known_keys=[KnownKeyOut.of(k, overridden=k.name in stored) for k in KNOWN_KEYS.values()],
    )


@router.patch("/api/v1/config", response_model=ConfigPatchOut, openapi_extra=_PATCH_BODY,
              responses=errors(415, 422),
              dependencies=[refusals_audited("system_config.changed", target_type="system_config")])
async def patch_config(request: Request, session: Session, subject: SuperAdmin) -> ConfigPatchOut:
    """Create, change or remove entries (super admins): one entry, or `{"configs": [...]}` all or none."""
    batch = await _is_batch(request)
    items = (await parse_body(request, ConfigBatchIn, allow_form=False)).configs if batch else [
        await parse_body(request, ConfigEntryIn, allow_form=False)]
    box = request.app.state.settings.secret_box()
    outcomes = await service.apply_changes(session, items, batch=batch, box=box, actor=subject.actor)
    if any(o.change != "unchanged" for o in outcomes):
        after_commit(session, request.app.state.config_publisher.publish)
    shown = [service.present(o.entry, reveal=True, box=box) if o.entry else None for o in outcomes]
    changed = sum(o.change != "unchanged" for o in outcomes)
    return ConfigPatchOut(
        message=f"{changed} of {len(outcomes)} configuration entries changed",
        config=shown[0], configs=[e for e in shown if e is not None],
        changes=[ConfigChangeOut(config_key=o.key, change=o.change) for o in outcomes],
    )


async def _is_batch(request: Request) -> bool:
    """Whether the body is the several-entries form (parse_body reports a malformed one)."""
    try:
        raw: Any = json.loads(await request.body() or b"null")
    except ValueError:
        return False
    return isinstance(raw, dict) and "configs" in raw
