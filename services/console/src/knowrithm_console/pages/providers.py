"""Providers and models catalogue (super admins): list, create, edit, delete, bulk import, seed.

The catalogue is the platform's (`/api/v1/providers…`): every company's agents choose their
chat and embedding models from it, so only super admins change it (the API refuses anyone
else, and these screens answer the 403 page before any call). Deletions and the seed ask
first: htmx brings the question into the page as a dialog; without JavaScript it is a page.
Bulk import (platform_import.py) is a screen of its own.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.datastructures import FormData

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.platform_forms import FieldError, amount, flag, optional, refusals, text, whole
from knowrithm_console.web import N_, PREFIX, Page, page_of, redirect, render, super_admin_page

router = APIRouter(prefix=f"{PREFIX}/platform/providers")
PageDep = Annotated[Page, Depends(page_of)]
HOME = f"{PREFIX}/platform/providers"

PROVIDER_TYPES = {"llm": N_("Chat"), "embedding": N_("Embedding"), "both": N_("Chat and embedding")}
MODEL_TYPES = {"llm": N_("Chat"), "embedding": N_("Embedding")}
PRICING_TIERS = {"free": N_("Free"), "budget": N_("Budget"), "mid": N_("Mid-range"),
                 "premium": N_("Premium"), "variable": N_("Variable")}
PROVIDER_FIELDS = {"value", "label", "provider_type", "default_base_url", "api_key_env_var", "pricing_tier",
                   "description", "requires_api_key", "requires_base_url", "is_active"}
MODEL_FIELDS = {"name", "display_name", "model_type", "context_length", "max_tokens", "embedding_dimension",
                "cost_per_1k_tokens_input", "cost_per_1k_tokens_output", "description"}
CONFLICTS = {"provider_exists": "value", "provider_type_in_use": "provider_type", "model_exists": "name",
             "model_type_not_supported": "model_type", "invalid_embedding_dimension": "embedding_dimension"}


async def _call(page: Page, method: str, path: str, **options: Any) -> dict[str, Any]:
    assert page.session is not None
    return await page.api.call(page.session, method, path, client=page.client, **options)


@router.get("")
async def catalogue(page: PageDep) -> Response:
    """Every provider (inactive ones too) with its models."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    body = await _call(page, "GET", "/api/v1/providers",
                       params={"include_models": "true", "include_inactive": "true"})
    return await render(page, "platform_providers.html", providers=body.get("providers") or [],
                        provider_types=PROVIDER_TYPES, model_types=MODEL_TYPES, tiers=PRICING_TIERS)


# -- providers


def _provider_body(form: FormData, *, new: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "label": text(form, "label", limit=300), "provider_type": text(form, "provider_type"),
        "default_base_url": optional(form, "default_base_url"),
        "api_key_env_var": optional(form, "api_key_env_var"),
        "pricing_tier": text(form, "pricing_tier"), "description": optional(form, "description"),
        "requires_api_key": flag(form, "requires_api_key"),
        "requires_base_url": flag(form, "requires_base_url"),
    }
    if new:
        body["value"] = text(form, "value", limit=200)
    else:
        body["is_active"] = flag(form, "is_active")
    return body


async def _provider_form(page: Page, provider: dict[str, Any] | None, values: dict[str, Any], *,
                         errors: dict[str, str], error: str | None, status: int = 200) -> Response:
    return await render(page, "platform_provider_form.html", status=status, provider=provider, values=values,
                        errors=errors, error=error, provider_types=PROVIDER_TYPES, tiers=PRICING_TIERS)


@router.get("/new")
async def new_provider(page: PageDep) -> Response:
    """The form for a new provider."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    values = {"provider_type": "llm", "pricing_tier": "mid", "requires_api_key": True}
    return await _provider_form(page, None, values, errors={}, error=None)


@router.post("/new")
async def create_provider(page: PageDep) -> Response:
    """`POST /providers`; the API's refusal next to its field, nothing saved."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    body = _provider_body(await page.request.form(), new=True)
    try:
        created = await _call(page, "POST", "/api/v1/providers", json=body)
    except ApiError as exc:
        return await _refused_provider(page, None, body, exc)
    return await _done(page, _("Provider “%(name)s” added.") % {"name": created.get("label")},
                       f"provider-{created.get('id')}")


async def _refused_provider(page: Page, provider: dict[str, Any] | None, body: dict[str, Any],
                            exc: ApiError) -> Response:
    if exc.status not in (400, 409, 422):
        raise exc
    errors, error = refusals(exc, PROVIDER_FIELDS, conflicts=CONFLICTS)
    return await _provider_form(page, provider, body, errors=errors, error=error, status=exc.status)


async def _provider(page: Page, provider_id: uuid.UUID) -> dict[str, Any]:
    return await _call(page, "GET", f"/api/v1/providers/{provider_id}", params={"include_models": "false"})


@router.get("/{provider_id}/edit")
async def edit_provider(page: PageDep, provider_id: uuid.UUID) -> Response:
    """The provider's form, filled in."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    provider = await _provider(page, provider_id)
    return await _provider_form(page, provider, provider, errors={}, error=None)


@router.post("/{provider_id}/edit")
async def update_provider(page: PageDep, provider_id: uuid.UUID) -> Response:
    """`PUT /providers/{id}` with every field of the form (the value does not change)."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    body = _provider_body(await page.request.form(), new=False)
    try:
        saved = await _call(page, "PUT", f"/api/v1/providers/{provider_id}", json=body)
    except ApiError as exc:
        return await _refused_provider(page, await _provider(page, provider_id), body, exc)
    return await _done(page, _("Provider “%(name)s” saved.") % {"name": saved.get("label")},
                       f"provider-{provider_id}")


async def _done(page: Page, notice: str, anchor: str) -> Response:
    assert page.session is not None
    page.session.notice = notice
    await page.store.save(page.session)
    return redirect(page, f"{HOME}#{anchor}")


# -- confirmations (delete a provider or a model, seed the defaults)


async def _confirm(
    page: Page, *, title: str, text_: str, action: str, button: str, danger: bool = True
) -> Response:
    template = "_platform_confirm.html" if page.htmx else "platform_confirm.html"
    return await render(page, template, title=title, text=text_, action=action, button=button, danger=danger,
                        cancel=HOME)


@router.get("/{provider_id}/delete")
async def delete_provider_question(page: PageDep, provider_id: uuid.UUID) -> Response:
    """Ask before deleting a provider with its models."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    provider = await _provider(page, provider_id)
    return await _confirm(
        page, title=_("Delete “%(name)s”?") % {"name": provider["label"]},
        text_=_("The provider and its models leave the catalogue: agents can no longer choose them."),
        action=f"{HOME}/{provider_id}/delete", button=_("Delete provider"))


@router.post("/{provider_id}/delete")
async def delete_provider(page: PageDep, provider_id: uuid.UUID) -> Response:
    """`DELETE /providers/{id}` (its models too)."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    provider = await _provider(page, provider_id)
    await _call(page, "DELETE", f"/api/v1/providers/{provider_id}")
    return await _done(page, _("Provider “%(name)s” deleted.") % {"name": provider["label"]}, "providers")


@router.get("/seed")
async def seed_question(page: PageDep) -> Response:
    """Ask before seeding the built-in providers and models."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    return await _confirm(
        page, title=_("Seed the default providers and models?"),
        text_=_("The built-in providers and models are added, and changed back where they differ. "
                "Other providers stay as they are."),
        action=f"{HOME}/seed", button=_("Seed the defaults"), danger=False)


@router.post("/seed")
async def seed(page: PageDep) -> Response:
    """`POST /settings/providers/seed`; the counts in the notice."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    counts = await _call(page, "POST", "/api/v1/settings/providers/seed")
    return await _done(page, counts_notice(_("Defaults seeded."), counts), "providers")


def counts_notice(headline: str, counts: dict[str, Any]) -> str:
    """What an import or the seed did, in words."""
    return headline + " " + _(
        "Providers: %(pc)s added, %(pu)s changed, %(pn)s unchanged. "
        "Models: %(mc)s added, %(mu)s changed, %(mn)s unchanged.") % {
        "pc": counts.get("providers_created", 0), "pu": counts.get("providers_updated", 0),
        "pn": counts.get("providers_unchanged", 0), "mc": counts.get("models_created", 0),
        "mu": counts.get("models_updated", 0), "mn": counts.get("models_unchanged", 0)}


# -- models


def _model_body(form: FormData, *, new: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "display_name": optional(form, "display_name"), "description": optional(form, "description"),
        "context_length": whole(form, "context_length") or 0, "max_tokens": whole(form, "max_tokens"),
        "embedding_dimension": whole(form, "embedding_dimension"),
        "cost_per_1k_tokens_input": amount(form, "cost_per_1k_tokens_input"),
        "cost_per_1k_tokens_output": amount(form, "cost_per_1k_tokens_output"),
        "supports_streaming": flag(form, "supports_streaming"),
        "supports_function_calling": flag(form, "supports_function_calling"),
        "supports_vision": flag(form, "supports_vision"), "is_recommended": flag(form, "is_recommended"),
    }
    if new:
        body |= {"name": text(form, "name", limit=300), "model_type": text(form, "model_type")}
    else:
        body["is_active"] = flag(form, "is_active")
    return body


async def _model_form(
    page: Page, provider: dict[str, Any], model: dict[str, Any] | None, values: dict[str, Any], *,
    errors: dict[str, str], error: str | None, status: int = 200,
) -> Response:
    return await render(page, "platform_model_form.html", status=status, provider=provider, model=model,
                        values=values, errors=errors, error=error, model_types=MODEL_TYPES)


async def _save_model(page: Page, provider_id: uuid.UUID, model_id: uuid.UUID | None) -> Response:
    form = await page.request.form()
    provider = await _provider(page, provider_id)
    model = await _model(page, provider_id, model_id) if model_id else None
    values: dict[str, Any] = {k: form.get(k) for k in form.keys()}
    values |= {k: k in form for k in ("supports_streaming", "supports_function_calling", "supports_vision",
                                       "is_recommended", "is_active")}
    try:
        body = _model_body(form, new=model_id is None)
    except FieldError as bad:
        return await _model_form(page, provider, model, values, errors={bad.field: bad.message}, error=None,
                                 status=422)
    path = f"/api/v1/providers/{provider_id}/models"
    try:
        saved = await _call(page, "POST" if model_id is None else "PUT",
                            path if model_id is None else f"{path}/{model_id}", json=body)
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        errors, error = refusals(exc, MODEL_FIELDS, conflicts=CONFLICTS)
        return await _model_form(page, provider, model, values, errors=errors, error=error, status=exc.status)
    name = saved.get("display_name") or saved.get("name")
    notice = _("Model “%(name)s” added.") if model_id is None else _("Model “%(name)s” saved.")
    return await _done(page, notice % {"name": name}, f"provider-{provider_id}")


async def _model(page: Page, provider_id: uuid.UUID, model_id: uuid.UUID) -> dict[str, Any]:
    return await _call(page, "GET", f"/api/v1/providers/{provider_id}/models/{model_id}")


@router.get("/{provider_id}/models/new")
async def new_model(page: PageDep, provider_id: uuid.UUID) -> Response:
    """The form for a new model of the provider."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    provider = await _provider(page, provider_id)
    kind = "embedding" if provider.get("provider_type") == "embedding" else "llm"
    values = {"model_type": kind, "supports_streaming": True}
    return await _model_form(page, provider, None, values, errors={}, error=None)


@router.post("/{provider_id}/models/new")
async def create_model(page: PageDep, provider_id: uuid.UUID) -> Response:
    """`POST /providers/{id}/models`; the API's refusal next to its field."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    return await _save_model(page, provider_id, None)


@router.get("/{provider_id}/models/{model_id}/edit")
async def edit_model(page: PageDep, provider_id: uuid.UUID, model_id: uuid.UUID) -> Response:
    """The model's form, filled in (its name and type do not change)."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    model = await _model(page, provider_id, model_id)
    return await _model_form(page, await _provider(page, provider_id), model, model, errors={}, error=None)


@router.post("/{provider_id}/models/{model_id}/edit")
async def update_model(page: PageDep, provider_id: uuid.UUID, model_id: uuid.UUID) -> Response:
    """`PUT /providers/{id}/models/{model_id}`."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    return await _save_model(page, provider_id, model_id)


@router.get("/{provider_id}/models/{model_id}/delete")
async def delete_model_question(page: PageDep, provider_id: uuid.UUID, model_id: uuid.UUID) -> Response:
    """Ask before deleting a model."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    model = await _model(page, provider_id, model_id)
    return await _confirm(
        page, title=_("Delete the model “%(name)s”?") % {"name": model.get("display_name") or model["name"]},
        text_=_("Agents can no longer choose it."),
        action=f"{HOME}/{provider_id}/models/{model_id}/delete", button=_("Delete model"))


@router.post("/{provider_id}/models/{model_id}/delete")
async def delete_model(page: PageDep, provider_id: uuid.UUID, model_id: uuid.UUID) -> Response:
    """`DELETE /providers/{id}/models/{model_id}`."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    model = await _model(page, provider_id, model_id)
    await _call(page, "DELETE", f"/api/v1/providers/{provider_id}/models/{model_id}")
    name = model.get("display_name") or model["name"]
    return await _done(page, _("Model “%(name)s” deleted.") % {"name": name}, f"provider-{provider_id}")
