"""The providers and models every installation starts with.

Three providers cover what the platform can call: Gemini (google-genai), any OpenAI-compatible
HTTP API (OpenAI itself, Ollama, vLLM, LM Studio: give the base URL) and `offline`, the
deterministic responder and embedder used air-gapped and in tests.

Two ways in (docs/agents.md):
- at every start of the agents service, `add_missing_builtins` creates what the catalogue has
  never had (so a fresh installation has it before anyone signs in) and leaves every existing
  entry, edited or deleted, as the super admin left it;
- `POST /settings/providers/seed` (a super admin) imports this list: it upserts by provider
  value and model name, so a second run changes nothing and seeded fields an admin edited
  are set back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_agents.providers.schemas import ImportCounts, ImportedProvider
from knowrithm_agents.providers.service import add_missing, import_catalogue

M = 1_048_576


def _chat(name: str, display: str, context: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "display_name": display, "model_type": "llm", "context_length": context, **extra}


def _embed(name: str, display: str, dimension: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "display_name": display, "model_type": "embedding",
            "embedding_dimension": dimension, "supports_streaming": False, **extra}


CATALOGUE: list[dict[str, Any]] = [
    {
        "value": "gemini", "label": "Google Gemini", "provider_type": "both", "pricing_tier": "budget",
        "description": "Google's Gemini chat and embedding models through the Gemini API (google-genai).",
        "default_base_url": "https://generativelanguage.googleapis.com", "requires_api_key": True,
        "requires_base_url": False, "api_key_env_var": "GEMINI_API_KEY", "is_featured": True, "sort_order": 1,
        "tags": ["google", "hosted"], "documentation_url": "https://ai.google.dev/gemini-api/docs",
        "models": [
            _chat("gemini-2.5-flash", "Gemini 2.5 Flash", M, max_tokens=65_536,
                  supports_function_calling=True, supports_vision=True, is_recommended=True, sort_order=1),
            _chat("gemini-2.5-pro", "Gemini 2.5 Pro", M, max_tokens=65_536, supports_function_calling=True,
                  supports_vision=True, sort_order=2),
            _chat("gemini-2.0-flash", "Gemini 2.0 Flash", M, max_tokens=8_192, supports_function_calling=True,
                  supports_vision=True, sort_order=3),
            _embed("gemini-embedding-001", "Gemini Embedding 001", 3072, context_length=2048,
                   is_recommended=True, sort_order=10),
            # Google retires text-embedding-004 (announced for 2026-01-14); kept for existing indexes.
            _embed("text-embedding-004", "Text Embedding 004", 768, context_length=2048,
                   is_deprecated=True, sort_order=11),
        ],
    },
    {
        "value": "openai-compatible", "label": "OpenAI-compatible", "provider_type": "both",
        "pricing_tier": "variable",
        "description": "Any OpenAI-compatible API: OpenAI, Ollama, vLLM, LM Studio. Give the server's "
                       "base URL (e.g. http://localhost:11434/v1 for Ollama) and an API key where the "
                       "server needs one.",
        "default_base_url": "https://api.openai.com/v1", "requires_api_key": False, "requires_base_url": True,
        "api_key_env_var": "OPENAI_API_KEY", "is_featured": True, "sort_order": 2,
        "tags": ["openai", "ollama", "vllm", "lm-studio", "self-hosted"],
        "documentation_url": "https://platform.openai.com/docs/api-reference",
        "models": [
            _chat("gpt-4o-mini", "GPT-4o mini", 128_000, max_tokens=16_384, supports_function_calling=True,
                  supports_vision=True, is_recommended=True, sort_order=1),
            _chat("gpt-4o", "GPT-4o", 128_000, max_tokens=16_384, supports_function_calling=True,
                  supports_vision=True, sort_order=2),
            _embed("text-embedding-3-small", "text-embedding-3-small", 1536, context_length=8191,
                   is_recommended=True, sort_order=10),
            _embed("text-embedding-3-large", "text-embedding-3-large", 3072, context_length=8191,
                   sort_order=11),
            _embed("nomic-embed-text", "nomic-embed-text (Ollama)", 768, context_length=8192,
                   tags=["ollama"], sort_order=12),
        ],
    },
    {
        "value": "offline", "label": "Offline", "provider_type": "both", "pricing_tier": "free",
        "description": "No network and no key: answers are extracted from the retrieved passages and "
                       "embeddings are deterministic. For air-gapped installations and tests.",
        "default_base_url": None, "requires_api_key": False, "requires_base_url": False,
        "api_key_env_var": None, "is_featured": False, "sort_order": 3, "tags": ["air-gapped", "testing"],
        "models": [
            _chat("extractive-responder", "Extractive responder", 8192, supports_streaming=True,
                  description="Answers with the retrieved passages that best match the question.",
                  is_recommended=True, sort_order=1),
            _embed("offline-embedder", "Offline embedder", 384, context_length=8192,
                   description="Deterministic hashed embeddings: the same text always gives the same vector.",
                   is_recommended=True, sort_order=10),
        ],
    },
]


def catalogue() -> list[ImportedProvider]:
    """The seed list, validated like a bulk import."""
    return [ImportedProvider.model_validate(entry) for entry in CATALOGUE]


async def seed_providers(session: AsyncSession) -> ImportCounts:
    """Create or update the built-in providers and models."""
    return await import_catalogue(session, catalogue())


async def add_missing_builtins(session: AsyncSession) -> ImportCounts:
    """Add the built-in providers and models the catalogue has never had (the start-up seed)."""
    return await add_missing(session, catalogue())
