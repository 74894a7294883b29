"""The chat widget: its script, the public read of an agent's widget settings, and test pages.

- `GET /widget.js` (public): the widget, one dependency-free script (widget.js beside this file);
  also at `GET /api/v1/widget.js`, where the official SDK's `fetch_widget_script` asks for it.
- `GET /api/v1/widget/agent/{agent_id}` (public): what the widget shows of an agent: name, avatar,
  title, greeting, whether it asks for the visitor's details, theme. Nothing else of the agent
  (no model, settings, instructions, allowed origins). Unknown, deleted or inactive agents: 404.
- `POST /api/v1/test` (admins): a test page embedding an agent's widget (testpage.py): the agent
  named by `agent_id`, or without one (the contract's body is only `{"body": "<html>"}`) the
  company's active agent changed most recently; 404 when the company has no active agent.
- `GET /api/v1/test/page/{token}` (public): that page, until it expires.

Widget settings come from the agent's `widget_config` (agents events): `primary_color`,
`text_color`, `position` ("right" | "left", also accepted inside a `theme` object), `title`,
`greeting`, `lead_capture` (default true). Values that are not what they should be fall back to
the defaults instead of reaching the visitor's page.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.errors import AgentNotFound, NotFound
from knowrithm_common.openapi import errors
from knowrithm_common.queries import Agents
from knowrithm_common.tenancy import CompanyWrite
from knowrithm_conversations.agents.view import get_agent, latest_active_agent, visitor_agent
from knowrithm_conversations.config import ConversationsSettings
from knowrithm_conversations.models import AgentView
from knowrithm_conversations.urls import public_base
from knowrithm_conversations.widget import testpage

router = APIRouter(tags=["Widget"])
SCRIPT = Path(__file__).with_name("widget.js")
COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
SCRIPT_MAX_AGE = 300  # seconds: a new widget reaches every site within minutes


class WidgetUnavailable(AgentNotFound):
    message = "This chat is not available: the agent does not exist or is not active"


class NoActiveAgent(AgentNotFound):
    message = (
        "Your company has no active agent to embed: create one (or set one's status to active), "
        "or name one with agent_id"
    )


class TestPageNotFound(NotFound):
    code = "test_page_not_found"
    message = "This test page does not exist or has expired; create a new one"


class WidgetTheme(BaseModel):
    primary_color: str = Field("#2563eb", description="launcher, header and the visitor's messages")
    text_color: str = Field("#ffffff", description="text on the primary colour")
    position: Literal["right", "left"] = "right"


class WidgetAgent(BaseModel):
    """What the widget may show of an agent (public)."""

    agent_id: uuid.UUID
    name: str
    avatar_url: str | None
    title: str
    greeting: str | None
    lead_capture: bool = Field(description="ask for name, email and consent before chatting")
    theme: WidgetTheme


class NewTestPage(BaseModel):
    agent_id: uuid.UUID | None = Field(
        None, description="the agent whose widget to embed; default: your active agent changed most recently"
    )
    body: str = Field("", max_length=testpage.MAX_BODY_CHARS,
                      description="your own HTML for the page (scripts included), shown only there")


class TestPageCreated(BaseModel):
    agent_id: uuid.UUID = Field(description="the agent whose widget the page embeds")
    url: str = Field(description="path of the page on the gateway; public until it expires")
    html: str
    expires_at: str


def _text(value: Any, *, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def _theme(config: dict[str, Any]) -> WidgetTheme:
    nested = config.get("theme")
    values = {**(nested if isinstance(nested, dict) else {}), **config}
    theme = WidgetTheme()
    for field in ("primary_color", "text_color"):
        colour = values.get(field)
        if isinstance(colour, str) and COLOUR.fullmatch(colour.strip()):
            setattr(theme, field, colour.strip())
    if values.get("position") in ("right", "left"):
        theme.position = values["position"]
    return theme


def public_config(agent: AgentView) -> WidgetAgent:
    """The agent as the widget shows it; nothing secret, odd values replaced by defaults."""
    config = agent.widget_config if isinstance(agent.widget_config, dict) else {}
    avatar = agent.avatar_url if (agent.avatar_url or "").startswith(("https://", "http://")) else None
    lead_capture = config.get("lead_capture")
    return WidgetAgent(
        agent_id=agent.agent_id,
        name=agent.name,
        avatar_url=avatar,
        title=_text(config.get("title"), limit=120) or agent.name,
        greeting=_text(config.get("greeting"), limit=1000),
        lead_capture=lead_capture if isinstance(lead_capture, bool) else True,
        theme=_theme(config),
    )


@functools.cache
def _script() -> tuple[bytes, str]:
    body = SCRIPT.read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


@router.get("/widget.js", response_class=Response)
@router.get("/api/v1/widget.js", response_class=Response)
async def widget_script(request: Request) -> Response:
    """The chat widget script: `<script src="…/widget.js" data-agent-id="…" async></script>`."""
    body, etag = _script()
    headers = {
        "Cache-Control": f"public, max-age={SCRIPT_MAX_AGE}",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/javascript", headers=headers)


@router.get("/api/v1/widget/agent/{agent_id}", response_model=WidgetAgent)
async def widget_agent(
    agent_id: uuid.UUID, session: Session, response: Response, agents: Agents
) -> WidgetAgent:
    """The public widget settings of an active agent (name, avatar, theme, greeting, lead capture)."""
    agent = await visitor_agent(session, agent_id, owner=agents, unavailable=WidgetUnavailable)
    response.headers["Cache-Control"] = "public, max-age=60"
    return public_config(agent)


@router.post("/api/v1/test", status_code=201, response_model=TestPageCreated,
             responses=errors(404))
async def create_test_page(
    subject: CompanyWrite, body: NewTestPage, request: Request, session: Session, agents: Agents
) -> TestPageCreated:
    """A page embedding one of your agents' widget (and your own HTML) to try it as visitors will."""
    if body.agent_id is None:
        agent = await latest_active_agent(session, subject.company_id)
        if agent is None:
            raise NoActiveAgent()
    else:
        agent = await get_agent(session, company_id=subject.company_id, agent_id=body.agent_id, owner=agents)
    page = testpage.StoredPage(agent_id=str(agent.agent_id), agent_name=agent.name, body=body.body)
    token, expires_at = await testpage.store(request.app.state.redis, page)
    return TestPageCreated(
        agent_id=agent.agent_id,
        url=f"/api/v1/test/page/{token}",
        html=testpage.render(page, base_url=_public_base(request)),
        expires_at=expires_at.isoformat(),
    )


def _public_base(request: Request) -> str:
    settings: ConversationsSettings = request.app.state.settings
    return public_base(request, settings.base_url)


@router.get("/api/v1/test/page/{token}", response_class=HTMLResponse)
async def test_page(token: str, request: Request) -> HTMLResponse:
    """A test page made by `POST /api/v1/test` (public until it expires)."""
    page = await testpage.load(request.app.state.redis, token)
    if page is None:
        raise TestPageNotFound()
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
    }
    return HTMLResponse(testpage.render(page, base_url=_public_base(request)), headers=headers)
