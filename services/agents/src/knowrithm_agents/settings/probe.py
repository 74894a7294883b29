"""The settings test call: one minimal real request to each configured provider.

Gemini goes through google-genai; any other provider is spoken to as OpenAI-compatible
(`POST {base}/chat/completions`, `POST {base}/embeddings`); the offline provider answers
locally without network. Every call has a short timeout; failures are reported, not raised,
and the API key never appears in what is reported.
"""

from __future__ import annotations

import time

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from knowrithm_agents.settings.schemas import ProbeResult

PROMPT = "Reply with the single word: ok"


def _failure(provider: str, model: str, *, status: int | None, message: str, key: str | None) -> ProbeResult:
    if status in (401, 403):
        error = "provider_auth_failed"
    elif status is None:
        error = "provider_unreachable"
    else:
        error = "provider_error"
    if key:
        message = message.replace(key, "••••")
    return ProbeResult(
        ok=False, provider=provider, model=model, error=error, status=status, message=message[:500]
    )


async def probe(
    *, kind: str, provider: str, model: str, base_url: str | None, api_key: str | None, timeout: float
) -> ProbeResult:
    """Call the provider once for `kind` (llm or embedding); report success with latency, or the failure."""
    started = time.perf_counter()
    try:
        if provider == "offline":
            pass  # the extractive responder and the offline embedder run in-process
        elif provider == "gemini":
            await _gemini(kind=kind, model=model, base_url=base_url, api_key=api_key, timeout=timeout)
        else:
            await _openai_compatible(
                kind=kind, model=model, base_url=base_url, api_key=api_key, timeout=timeout
            )
    except genai_errors.APIError as exc:
        return _failure(provider, model, status=exc.code, message=str(exc.message or exc), key=api_key)
    except httpx.HTTPStatusError as exc:
        return _failure(
            provider, model, status=exc.response.status_code, message=_error_text(exc.response), key=api_key
        )
    except httpx.TimeoutException:
        return _failure(
            provider,
            model,
            status=None,
            key=api_key,
            message=f"{base_url or 'provider'} is unreachable: no answer within {timeout:g}s",
        )
    except (httpx.HTTPError, OSError) as exc:
        return _failure(
            provider,
            model,
            status=None,
            key=api_key,
            message=f"{base_url or 'provider'} is unreachable: {exc.__class__.__name__}",
        )
    latency = int((time.perf_counter() - started) * 1000)
    return ProbeResult(ok=True, provider=provider, model=model, latency_ms=latency)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        error = body.get("error", body) if isinstance(body, dict) else body
        return str(error.get("message", error) if isinstance(error, dict) else error)
    except ValueError:
        return response.text or response.reason_phrase


async def _gemini(
    *, kind: str, model: str, base_url: str | None, api_key: str | None, timeout: float
) -> None:
    options = types.HttpOptions(base_url=base_url, timeout=int(timeout * 1000))
    client = genai.Client(api_key=api_key or "missing", http_options=options)
    try:
        if kind == "llm":
            await client.aio.models.generate_content(
                model=model, contents=PROMPT, config=types.GenerateContentConfig(max_output_tokens=5)
            )
        else:
            await client.aio.models.embed_content(model=model, contents="ok")
    finally:
        await client.aio.aclose()


async def _openai_compatible(
    *, kind: str, model: str, base_url: str | None, api_key: str | None, timeout: float
) -> None:
    if not base_url:
        raise httpx.InvalidURL("no base URL configured")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if kind == "llm":
        path, body = (
            "/chat/completions",
            {"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": PROMPT}]},
        )
    else:
        path, body = "/embeddings", {"model": model, "input": "ok"}
    async with httpx.AsyncClient(timeout=timeout) as http:
        response = await http.post(base_url.rstrip("/") + path, json=body, headers=headers)
        response.raise_for_status()
