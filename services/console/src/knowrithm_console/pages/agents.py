"""Agents: the list (search, paging), create and edit, clone, delete and restore (also from the list
of deleted agents), widget settings.

Everything goes through the agents API with the signed-in person's token. Members read their
company's agents; creating, changing, cloning, deleting and restoring are for admins (the API's
rule: plain users get 403 there too), so those controls are absent for plain users and the
screens answer a 403 page when typed by hand. Provider keys are write-only: the form never
echoes them, it shows the API's hint ("••••1234") instead.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import field_messages, message_of
from knowrithm_console.web import PREFIX, Page, page_of, redirect, render

router = APIRouter(prefix=f"{PREFIX}/agents")
PageDep = Annotated[Page, Depends(page_of)]
Text = Annotated[str, Form(max_length=5000)]
PER_PAGE = 10
EXAMPLE_ORIGIN = "https://www.example.com"  # a template may not name an external URL
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
STATUSES = ("active", "inactive", "training", "maintenance")
DEFAULT_WIDGET = {"primary_color": "#1d4ed8", "text_color": "#ffffff", "title": "", "greeting": ""}


async def _signed_in(page: Page) -> bool:
    return page.session is not None and page.session.signed_in


def _admin(page: Page) -> None:
    assert page.session is not None and page.session.user is not None
    if not page.session.user.is_admin:
        raise ApiError(403, "forbidden", _("Only administrators can change agents."))


async def _call(page: Page, method: str, path: str, **kw: Any) -> dict[str, Any]:
    assert page.session is not None
    return await page.api.call(page.session, method, path, client=page.client, **kw)


def _agent_path(agent_id: uuid.UUID) -> str:
    return f"/api/v1/agent/{agent_id}"


# -- pure helpers (unit-tested)


def split_lines(text: str) -> list[str]:
    """One entry per line (or comma), trimmed, blanks and repeats dropped, order kept."""
    seen: list[str] = []
    for part in re.split(r"[\n,]", text):
        part = part.strip()
        if part and part not in seen:
            seen.append(part)
    return seen


def number(text: str) -> float | int | str | None:
    """A number as typed ("0.7", "512"), None when blank; anything else goes to the API as typed
    so its own validation message names the field."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "," not in text else value


def widget_of(config: dict[str, Any]) -> dict[str, Any]:
    """The widget settings the form edits, with safe defaults (colours only as #rrggbb)."""
    widget = {**DEFAULT_WIDGET, **{k: v for k, v in config.items() if v is not None}}
    for key in ("primary_color", "text_color"):
        if not isinstance(widget.get(key), str) or not COLOR.match(widget[key]):
            widget[key] = DEFAULT_WIDGET[key]
    origins = widget.get("allowed_origins") or []
    widget["allowed_origins"] = [str(o) for o in origins] if isinstance(origins, list) else []
    widget["lead_capture"] = widget.get("lead_capture", True) is not False
    widget["position"] = widget.get("position") if widget.get("position") in ("left", "right") else "right"
    return widget


@dataclass(slots=True)
class AgentForm:
    """What the create/edit form shows (never a key)."""

    name: str = ""
    description: str = ""
    instructions: str = ""
    personality: str = ""
    languages: str = "en"
    status: str = "active"
    llm_provider_id: str = ""
    llm_model_id: str = ""
    embedding_provider_id: str = ""
    embedding_model_id: str = ""
    temperature: str = "0.7"
    max_tokens: str = "1024"
    llm_key_hint: str | None = None
    embedding_key_hint: str | None = None

    @classmethod
    def of(cls, agent: dict[str, Any], settings: dict[str, Any] | None) -> AgentForm:
        traits = agent.get("personality_traits") or {}
        conf = agent.get("configuration") or {}
        return cls(
            name=agent.get("name", ""),
            description=agent.get("description") or "",
            instructions=str(traits.get("instructions", "")),
            personality=str(traits.get("personality", "")),
            languages=", ".join(str(x) for x in agent.get("languages") or []),
            status=agent.get("status", "active"),
            llm_provider_id=str(conf.get("llm_provider_id", "")),
            llm_model_id=str(conf.get("llm_model_id", "")),
            embedding_provider_id=str(conf.get("embedding_provider_id", "")),
            embedding_model_id=str(conf.get("embedding_model_id", "")),
            temperature=str(conf.get("llm_temperature", "0.7")),
            max_tokens=str(conf.get("llm_max_tokens", "1024")),
            llm_key_hint=(settings or {}).get("llm_api_key_hint"),
            embedding_key_hint=(settings or {}).get("embedding_api_key_hint"),
        )

    def body(self, llm_key: str, embedding_key: str, traits: dict[str, Any]) -> dict[str, Any]:
        """The API body: the agent's fields and its own settings (keys only when typed)."""
        traits = {**traits, "instructions": self.instructions, "personality": self.personality}
        body: dict[str, Any] = {
            "name": self.name,
            "description": self.description or None,
            "status": self.status,
            "personality_traits": {k: v for k, v in traits.items() if v != ""},
            "languages": split_lines(self.languages) or ["en"],
        }
        ids = {
            "llm_provider_id": self.llm_provider_id,
            "llm_model_id": self.llm_model_id,
            "embedding_provider_id": self.embedding_provider_id,
            "embedding_model_id": self.embedding_model_id,
        }
        if all(ids.values()):
            body.update(ids)
        for key, value in (
            ("llm_temperature", number(self.temperature)),
            ("llm_max_tokens", number(self.max_tokens)),
        ):
            if value is not None:
                body[key] = value
        if llm_key:
            body["llm_api_key"] = llm_key
        if embedding_key:
            body["embedding_api_key"] = embedding_key
        return body


# The API names settings fields as llm_temperature etc.; the form's fields are shorter.
FIELD_OF = {
    "llm_temperature": "temperature",
    "llm_max_tokens": "max_tokens",
    "llm_api_key": "llm_key",
    "embedding_api_key": "embedding_key",
    "personality_traits": "instructions",
}


def form_errors(exc: ApiError) -> tuple[dict[str, str], str | None]:
    """Field errors keyed by the form's field names; the rest as one message above the form."""
    errors = {FIELD_OF.get(k, k): v for k, v in field_messages(exc).items()}
    detail = exc.detail if isinstance(exc.detail, dict) else {}
    field = detail.get("field")
    named = field if isinstance(field, str) else None
    if not errors and exc.code == "agent_name_taken":
        errors["name"] = message_of(exc)
    elif not errors and named:
        errors[FIELD_OF.get(named, named)] = message_of(exc)
    return errors, (None if errors else message_of(exc))


# -- catalogue


async def _catalogue(page: Page) -> dict[str, list[dict[str, Any]]]:
    cat = await _call(page, "GET", "/api/v1/settings/providers")
    return {"llm": cat.get("llm_providers") or [], "embedding": cat.get("embedding_providers") or []}


def models_of(providers: list[dict[str, Any]], provider_id: str) -> list[dict[str, Any]]:
    """The models of the chosen provider (none when no provider is chosen)."""
    for provider in providers:
        if str(provider.get("id")) == provider_id:
            return list(provider.get("models") or [])
    return []


# -- list


@router.get("")
async def agent_list(
    page: PageDep,
    q: Annotated[str, Query(max_length=200)] = "",
    p: Annotated[int, Query(ge=1, le=10000)] = 1,
) -> Response:
    """The company's agents, newest first; the search box swaps the results in as one types."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    params: dict[str, Any] = {"page": p, "per_page": PER_PAGE}
    if q.strip():
        params["search"] = q.strip()
    data = await _call(page, "GET", "/api/v1/agent", params=params)
    context: dict[str, Any] = {
        "agents": data.get("agents") or [], "pagination": data.get("pagination") or {}, "q": q.strip()
    }
    if page.htmx and page.request.headers.get("hx-target") == "agent-results":
        return await render(page, "agents_results.html", searched=True, **context)
    return await render(page, "agents_list.html", **context)


# -- deleted agents (admins): the list with a Restore button each


async def _deleted_page(page: Page, p: int, *, error: str | None = None, status: int = 200) -> Response:
    data = await _call(page, "GET", "/api/v1/agent/deleted", params={"page": p, "per_page": PER_PAGE})
    return await render(
        page,
        "agents_deleted_list.html",
        status=status,
        agents=data.get("deleted_agents") or [],
        pagination=data.get("pagination") or {},
        error=error,
    )


@router.get("/deleted")
async def deleted_list(page: PageDep, p: Annotated[int, Query(ge=1, le=10000)] = 1) -> Response:
    """The company's deleted agents, the newest deletion first (admins)."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    return await _deleted_page(page, p)


@router.post("/deleted/{agent_id}/restore")
async def restore_deleted(page: PageDep, agent_id: uuid.UUID) -> Response:
    """Restore one agent from the list; the API's refusal (a live agent has its name) shows above it."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    try:
        agent = await _call(page, "PATCH", f"{_agent_path(agent_id)}/restore")
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await _deleted_page(page, 1, error=message_of(exc), status=exc.status)
    await _notice(page, _("Agent “%(name)s” restored.") % {"name": agent["name"]})
    return redirect(page, f"{PREFIX}/agents/deleted")


# -- create and edit


async def _form_page(
    page: Page,
    form: AgentForm,
    *,
    agent: dict[str, Any] | None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    cat = await _catalogue(page)
    return await render(
        page,
        "agents_form.html",
        status=status,
        form=form,
        agent=agent,
        errors=errors or {},
        error=error,
        llm_providers=cat["llm"],
        embedding_providers=cat["embedding"],
        llm_models=models_of(cat["llm"], form.llm_provider_id),
        embedding_models=models_of(cat["embedding"], form.embedding_provider_id),
        statuses=STATUSES,
    )


@router.get("/new")
async def new_form(page: PageDep) -> Response:
    """An empty agent form, the offline provider chosen when the catalogue has it (admins)."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    form = AgentForm()
    cat = await _catalogue(page)
    for kind, prov_attr, model_attr in (
        ("llm", "llm_provider_id", "llm_model_id"),
        ("embedding", "embedding_provider_id", "embedding_model_id"),
    ):
        providers = cat[kind]
        first = next(
            (pr for pr in providers if pr.get("value") == "offline"), providers[0] if providers else None
        )
        if first:
            setattr(form, prov_attr, str(first["id"]))
            models = first.get("models") or []
            if models:
                setattr(form, model_attr, str(models[0]["id"]))
    return await _form_page(page, form, agent=None)


@router.get("/models")
async def model_options(
    page: PageDep,
    kind: Annotated[str, Query(pattern="^(llm|embedding)$")],
    llm_provider_id: str = "",
    embedding_provider_id: str = "",
) -> Response:
    """The model select for the chosen provider (htmx swaps it in when the provider changes)."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    cat = await _catalogue(page)
    chosen = llm_provider_id if kind == "llm" else embedding_provider_id
    models = models_of(cat[kind], chosen)
    return await render(page, "agents_models.html", kind=kind, models=models, selected="", errors={})


@dataclass(slots=True)
class Posted:
    """The agent form as posted: its fields, and the keys (never shown back)."""

    form: AgentForm
    llm_key: str
    embedding_key: str


async def posted(
    name: Text = "",
    description: Text = "",
    instructions: Text = "",
    personality: Text = "",
    languages: Text = "",
    status: Text = "active",
    llm_provider_id: Text = "",
    llm_model_id: Text = "",
    embedding_provider_id: Text = "",
    embedding_model_id: Text = "",
    temperature: Text = "",
    max_tokens: Text = "",
    llm_key: Text = "",
    embedding_key: Text = "",
) -> Posted:
    """The create and edit forms' fields, read once for both routes."""
    form = AgentForm(
        name=name, description=description, instructions=instructions, personality=personality,
        languages=languages, status=status, llm_provider_id=llm_provider_id, llm_model_id=llm_model_id,
        embedding_provider_id=embedding_provider_id, embedding_model_id=embedding_model_id,
        temperature=temperature, max_tokens=max_tokens,
    )
    return Posted(form, llm_key, embedding_key)


PostedDep = Annotated[Posted, Depends(posted)]


@router.post("/new")
async def create(page: PageDep, sent: PostedDep) -> Response:
    """Create the agent with its own settings; the API's refusal goes next to the field it names."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    form = sent.form
    try:
        body = form.body(sent.llm_key, sent.embedding_key, {})
        agent = await _call(page, "POST", "/api/v1/agent", json=body)
    except ApiError as exc:
        if exc.status in (401, 403) or (exc.status == 404 and not exc.field_errors()):
            raise
        errors, error = form_errors(exc)
        return await _form_page(page, form, agent=None, errors=errors, error=error, status=exc.status)
    await _notice(page, _("Agent “%(name)s” created.") % {"name": agent["name"]})
    return redirect(page, f"{PREFIX}/agents/{agent['id']}")


async def _notice(page: Page, text: str) -> None:
    assert page.session is not None
    page.session.notice = text
    await page.store.save(page.session)


async def _settings_of(page: Page, agent: dict[str, Any]) -> dict[str, Any] | None:
    """The agent's own settings row (for the key hints); None when it uses the company's."""
    if (agent.get("configuration") or {}).get("settings_level") != "agent":
        return None
    try:
        return await _call(page, "GET", f"/api/v1/settings/agent/{agent['id']}")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


@router.get("/{agent_id}")
async def detail(page: PageDep, agent_id: uuid.UUID) -> Response:
    """Admins get the edit form; plain users what the agent is and how it is configured."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    agent = await _call(page, "GET", _agent_path(agent_id))
    assert page.session is not None and page.session.user is not None
    if not page.session.user.is_admin:
        return await render(page, "agents_view.html", agent=agent)
    return await _form_page(page, AgentForm.of(agent, await _settings_of(page, agent)), agent=agent)


@router.post("/{agent_id}")
async def update(page: PageDep, agent_id: uuid.UUID, sent: PostedDep) -> Response:
    """Save the form in one PUT (the API changes all of it or nothing)."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    agent = await _call(page, "GET", _agent_path(agent_id))
    form = sent.form
    try:
        body = form.body(sent.llm_key, sent.embedding_key, dict(agent.get("personality_traits") or {}))
        await _call(page, "PUT", _agent_path(agent_id), json=body)
    except ApiError as exc:
        if exc.status in (401, 403) or (exc.status == 404 and not exc.field_errors()):
            raise
        errors, error = form_errors(exc)
        settings = await _settings_of(page, agent)
        form.llm_key_hint = (settings or {}).get("llm_api_key_hint")
        form.embedding_key_hint = (settings or {}).get("embedding_api_key_hint")
        return await _form_page(page, form, agent=agent, errors=errors, error=error, status=exc.status)
    await _notice(page, _("Changes saved."))
    return redirect(page, f"{PREFIX}/agents/{agent_id}")


# -- clone, delete, restore (a confirmation page each: works without JavaScript, focus on its heading)


@router.get("/{agent_id}/clone")
async def clone_form(page: PageDep, agent_id: uuid.UUID) -> Response:
    """Confirm the copy and choose its name."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    agent = await _call(page, "GET", _agent_path(agent_id))
    return await render(
        page,
        "agents_confirm.html",
        agent=agent,
        action="clone",
        errors={},
        error=None,
        name=_("%(name)s (copy)") % {"name": agent["name"]},
    )


@router.post("/{agent_id}/clone")
async def clone(page: PageDep, agent_id: uuid.UUID, name: Text = "") -> Response:
    """Copy the agent (its fields and own settings) under the new name."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    agent = await _call(page, "GET", _agent_path(agent_id))
    try:
        copy = await _call(
            page, "POST", f"{_agent_path(agent_id)}/clone", json={"name": name} if name else {}
        )
    except ApiError as exc:
        if exc.status in (401, 403) or (exc.status == 404 and not exc.field_errors()):
            raise
        errors, error = form_errors(exc)
        if exc.code == "agent_name_taken":
            errors, error = {"name": message_of(exc)}, None
        return await render(
            page,
            "agents_confirm.html",
            status=exc.status,
            agent=agent,
            action="clone",
            errors=errors,
            error=error,
            name=name,
        )
    await _notice(page, _("Agent “%(name)s” created as a copy.") % {"name": copy["name"]})
    return redirect(page, f"{PREFIX}/agents/{copy['id']}")


@router.get("/{agent_id}/delete")
async def delete_form(page: PageDep, agent_id: uuid.UUID) -> Response:
    """Confirm the deletion."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    agent = await _call(page, "GET", _agent_path(agent_id))
    return await render(
        page, "agents_confirm.html", agent=agent, action="delete", errors={}, error=None, name=""
    )


@router.post("/{agent_id}/delete")
async def delete(page: PageDep, agent_id: uuid.UUID) -> Response:
    """Soft-delete; the next page offers to restore it."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    agent = await _call(page, "GET", _agent_path(agent_id))
    await _call(page, "DELETE", _agent_path(agent_id))
    return await render(page, "agents_deleted.html", agent=agent)


@router.post("/{agent_id}/restore")
async def restore(page: PageDep, agent_id: uuid.UUID) -> Response:
    """Bring a deleted agent back (refused while a live agent has its name: shown as a page)."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    agent = await _call(page, "PATCH", f"{_agent_path(agent_id)}/restore")
    await _notice(page, _("Agent “%(name)s” restored.") % {"name": agent["name"]})
    return redirect(page, f"{PREFIX}/agents/{agent_id}")


# -- widget


async def _widget_page(
    page: Page,
    agent: dict[str, Any],
    widget: dict[str, Any],
    *,
    errors: dict[str, str],
    error: str | None = None,
    test_url: str | None = None,
    status: int = 200,
) -> Response:
    embed = await _call(page, "GET", f"{_agent_path(uuid.UUID(agent['id']))}/embed-code")
    return await render(
        page,
        "agents_widget.html",
        status=status,
        agent=agent,
        widget=widget,
        errors=errors,
        error=error,
        embed=embed.get("embed_code", ""),
        test_url=test_url,
        example_origin=EXAMPLE_ORIGIN,
    )


@router.get("/{agent_id}/widget")
async def widget_form(page: PageDep, agent_id: uuid.UUID) -> Response:
    """Theme, allowed origins and lead capture, a preview, the embed code and the test page (admins)."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    agent = await _call(page, "GET", _agent_path(agent_id))
    return await _widget_page(page, agent, widget_of(agent.get("widget_config") or {}), errors={})


def _widget_posted(
    primary_color: str,
    text_color: str,
    title: str,
    greeting: str,
    position: str,
    allowed_origins: str,
    lead_capture: str,
) -> dict[str, Any]:
    return {
        "primary_color": primary_color,
        "text_color": text_color,
        "title": title.strip(),
        "greeting": greeting.strip(),
        "position": position,
        "allowed_origins": split_lines(allowed_origins),
        "lead_capture": lead_capture == "on",
    }


def check_widget(widget: dict[str, Any]) -> dict[str, str]:
    """What the console checks before saving (the API keeps widget settings as given)."""
    errors: dict[str, str] = {}
    for key in ("primary_color", "text_color"):
        if not COLOR.match(str(widget.get(key, ""))):
            errors[key] = _("Give a colour as #rrggbb.")
    bad = [o for o in widget.get("allowed_origins", []) if not re.match(r"^https?://[^/\s?#]+$", o)]
    if bad:
        errors["allowed_origins"] = _("Not an origin (scheme://host[:port], no path): %(bad)s") % {
            "bad": ", ".join(bad)
        }
    return errors


@router.get("/{agent_id}/widget/preview")
async def widget_preview(
    page: PageDep,
    agent_id: uuid.UUID,
    primary_color: str = "",
    text_color: str = "",
    title: str = "",
    greeting: str = "",
    position: str = "right",
) -> Response:
    """The preview alone, for htmx as the form changes (nothing saved)."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    widget = widget_of(
        {
            "primary_color": primary_color,
            "text_color": text_color,
            "title": title[:200],
            "greeting": greeting[:500],
            "position": position,
        }
    )
    agent = await _call(page, "GET", _agent_path(agent_id))
    return await render(page, "agents_preview.html", agent=agent, widget=widget)


@router.post("/{agent_id}/widget")
async def widget_save(
    page: PageDep,
    agent_id: uuid.UUID,
    primary_color: Text = "",
    text_color: Text = "",
    title: Text = "",
    greeting: Text = "",
    position: Text = "right",
    allowed_origins: Text = "",
    lead_capture: Text = "",
) -> Response:
    """Save the widget settings (kept with the agent's other widget keys)."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    agent = await _call(page, "GET", _agent_path(agent_id))
    posted = _widget_posted(
        primary_color, text_color, title, greeting, position, allowed_origins, lead_capture
    )
    errors = check_widget(posted)
    if errors:
        return await _widget_page(page, agent, {**widget_of({}), **posted}, errors=errors, status=422)
    config = {**(agent.get("widget_config") or {}), **posted}
    try:
        await _call(page, "PUT", _agent_path(agent_id), json={"widget_config": config})
    except ApiError as exc:
        if exc.status in (401, 403) or (exc.status == 404 and not exc.field_errors()):
            raise
        return await _widget_page(
            page, agent, {**widget_of({}), **posted}, errors={}, error=message_of(exc), status=exc.status
        )
    await _notice(page, _("Widget settings saved."))
    return redirect(page, f"{PREFIX}/agents/{agent_id}/widget")


@router.post("/{agent_id}/test-page")
async def test_page(page: PageDep, agent_id: uuid.UUID) -> Response:
    """Make a public test page embedding this agent's widget (24 hours) and link to it."""
    if not await _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    _admin(page)
    agent = await _call(page, "GET", _agent_path(agent_id))
    made = await _call(page, "POST", "/api/v1/test", json={"agent_id": str(agent_id)})
    return await _widget_page(
        page,
        agent,
        widget_of(agent.get("widget_config") or {}),
        errors={},
        test_url=str(made.get("url") or ""),
    )
