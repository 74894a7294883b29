"""Test pages: a throwaway HTML page that embeds an agent's widget exactly as a customer's site would.

A page is kept in Redis under a random token for PAGE_TTL_SECONDS, then it is gone (404). The
page loads the widget with the very snippet `GET /api/v1/agent/{id}/embed-code` gives, so what
works here works on the customer's site.

The optional `body` is the caller's own HTML (say, a copy of their landing page) and goes into
that one page verbatim, scripts included: it is never shown anywhere else and is not escaped,
which is why only the company's admins may create pages. The page is served with
`Referrer-Policy: no-referrer` so its token does not leak to what the body loads.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import secrets
import uuid
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

PAGE_TTL_SECONDS = 24 * 3600
KEY = "conversations:testpage:{token}"
MAX_BODY_CHARS = 200_000


@dataclass(frozen=True, slots=True)
class StoredPage:
    """What a test page shows: the agent whose widget it embeds and the caller's HTML."""

    agent_id: str
    agent_name: str
    body: str = ""


def embed_snippet(base_url: str, agent_id: uuid.UUID | str) -> str:
    """The widget's embed code, as the agents service hands it out."""
    script = f"{base_url.rstrip('/')}/widget.js"
    return f'<script src="{html.escape(script)}" data-agent-id="{html.escape(str(agent_id))}" async></script>'


def render(page: StoredPage, *, base_url: str) -> str:
    """The page's HTML: a heading, the caller's body (verbatim), then the widget snippet."""
    name = html.escape(page.agent_name)
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n'
        f"<title>Widget test: {name}</title>\n</head>\n<body>\n"
        f'<header><h1>Widget test: {name}</h1>\n<p>The chat bubble in the corner is the widget of '
        f"{name}, loaded with its embed code.</p></header>\n"
        f'<main id="test-page-body">\n{page.body}\n</main>\n'
        f"{embed_snippet(base_url, page.agent_id)}\n"
        "</body>\n</html>\n"
    )


async def store(redis: Redis, page: StoredPage) -> tuple[str, dt.datetime]:
    """Keep a page; its token and when it expires."""
    token = secrets.token_urlsafe(24)
    await redis.set(KEY.format(token=token), json.dumps(asdict(page)), ex=PAGE_TTL_SECONDS)
    return token, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=PAGE_TTL_SECONDS)


async def load(redis: Redis, token: str) -> StoredPage | None:
    """The page kept under `token`, or None when it never existed or has expired."""
    if len(token) > 64:  # a real token is 32 characters: do not ask Redis about anything longer
        return None
    raw = await redis.get(KEY.format(token=token))
    if raw is None:
        return None
    return StoredPage(**json.loads(raw))
