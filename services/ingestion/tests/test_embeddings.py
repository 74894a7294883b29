"""Embedding adapters.

Gemini and OpenAI-compatible adapters are tested against local HTTP servers (http.server on
127.0.0.1, in a thread) speaking the providers' wire formats: Gemini's
`POST /{version}/models/{model}:batchEmbedContents` (v1 is google-genai 3.x's default) and OpenAI's `POST /v1/embeddings`. No paid
API is called. The offline embedder runs as is.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from knowrithm_ingestion.embeddings import EmbeddingError, EmbeddingSpec, EmbeddingTask, create_embedder
from knowrithm_ingestion.embeddings.gemini import GeminiEmbedder
from knowrithm_ingestion.embeddings.offline import OfflineEmbedder
from knowrithm_ingestion.embeddings.openai_compat import OpenAICompatibleEmbedder
from knowrithm_ingestion.embeddings.retry import RetryPolicy

FAST_RETRY = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.02)
DIM = 8


# -- a local provider server ----------------------------------------------------------------
@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


class ProviderServer:
    """Answers each POST with `respond(request)` (or the next queued reply) and records requests."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.queue: list[Reply] = []
        self.respond: Callable[[Request], Reply] = lambda request: Reply(500, {"error": "no reply set"})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()},
                                  json.loads(self.rfile.read(length) or b"null"))
                server.requests.append(request)
                reply = server.queue.pop(0) if server.queue else server.respond(request)
                if reply.delay:
                    threading.Event().wait(reply.delay)
                payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in {"content-type": "application/json", **reply.headers}.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    with ProviderServer() as running:
        yield running


def vector_for(text: str) -> list[float]:
    """A recognisable vector: the number at the end of the text, then zeros."""
    return [float(text.rsplit(" ", 1)[-1])] + [0.0] * (DIM - 1)


def gemini_ok(request: Request) -> Reply:
    texts = [item["content"]["parts"][0]["text"] for item in request.body["requests"]]
    return Reply(200, {"embeddings": [{"values": vector_for(text)} for text in texts]})


def openai_ok(request: Request) -> Reply:
    data = [{"object": "embedding", "index": i, "embedding": vector_for(t)} for i, t in enumerate(request.body["input"])]
    return Reply(200, {"object": "list", "data": list(reversed(data)), "model": request.body["model"]})


def gemini(server: ProviderServer, **kw: Any) -> GeminiEmbedder:
    spec = EmbeddingSpec(provider="gemini", model="gemini-embedding-001", dimension=DIM,
                         base_url=server.url, api_key="gemini-test-key")
    return GeminiEmbedder(spec, retry=kw.pop("retry", FAST_RETRY), **kw)


def openai(server: ProviderServer, **kw: Any) -> OpenAICompatibleEmbedder:
    spec = EmbeddingSpec(provider="openai-compatible", model="text-embedding-3-small", dimension=DIM,
                         base_url=server.url + "/v1", api_key="sk-test", params=kw.pop("params", {}))
    return OpenAICompatibleEmbedder(spec, retry=kw.pop("retry", FAST_RETRY), **kw)


# -- offline ----------------------------------------------------------------------------------
def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_offline_embedder_gives_the_same_vector_in_another_process():
    text = "Refunds are issued within 30 days of purchase."
    here = OfflineEmbedder(dimension=64).embed_sync([text]).tolist()[0]
    code = (
        "import json\n"
        "from knowrithm_ingestion.embeddings.offline import OfflineEmbedder\n"
        f"print(json.dumps(OfflineEmbedder(dimension=64).embed_sync([{text!r}]).tolist()[0]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # a different str hash salt than ours
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert json.loads(out.stdout) == here


async def test_offline_embedder_scores_texts_sharing_words_above_unrelated_ones():
    embedder = OfflineEmbedder()
    question, answer, unrelated = await embedder.embed(
        [
            "How do I reset my password?",
            "To reset your password, click 'Forgot password' on the sign-in page.",
            "Our warehouse ships parcels to Canada within five business days.",
        ],
        task=EmbeddingTask.DOCUMENT,
    )
    assert cosine(question, answer) > cosine(question, unrelated) + 0.15


async def test_offline_embedder_returns_unit_vectors_of_the_requested_dimension_even_for_empty_text():
    vectors = await OfflineEmbedder(dimension=96).embed(["", "a b c", "!!!"] * 20, task=EmbeddingTask.QUERY)
    assert len(vectors) == 60
    assert all(len(v) == 96 and math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)


# -- factory ----------------------------------------------------------------------------------
async def test_factory_builds_the_offline_embedder_with_the_spec_dimension():
    embedder = create_embedder(EmbeddingSpec(provider="offline", model="offline-embedder", dimension=128))
    assert (embedder.model, embedder.dimension) == ("offline-embedder", 128)
    assert len((await embedder.embed(["hello"], task=EmbeddingTask.QUERY))[0]) == 128


def test_factory_rejects_an_unknown_provider_with_the_known_ones_listed():
    with pytest.raises(EmbeddingError) as error:
        create_embedder(EmbeddingSpec(provider="cohere", model="embed-v3", dimension=1024))
    assert "cohere" in error.value.reason and "gemini" in error.value.reason
    assert not error.value.retryable


def test_factory_asks_for_the_local_embeddings_extra_when_sentence_transformers_is_missing():
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("sentence-transformers is installed here")
    with pytest.raises(EmbeddingError) as error:
        create_embedder(EmbeddingSpec(provider="sentence-transformers", model="all-MiniLM-L6-v2", dimension=384))
    assert "local-embeddings" in error.value.reason


# -- Gemini -----------------------------------------------------------------------------------
async def test_gemini_embeds_250_texts_in_three_batch_requests_keeping_their_order(server):
    server.respond = gemini_ok
    embedder = gemini(server)
    texts = [f"passage {i}" for i in range(250)]
    vectors = await embedder.embed(texts, task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()

    assert [v[0] for v in vectors] == [float(i) for i in range(250)]
    assert [len(r.body["requests"]) for r in server.requests] == [100, 100, 50]
    first = server.requests[0]
    assert first.path == "/v1/models/gemini-embedding-001:batchEmbedContents"
    assert first.headers["x-goog-api-key"] == "gemini-test-key"
    item = first.body["requests"][0]
    assert item["taskType"] == "RETRIEVAL_DOCUMENT" and item["outputDimensionality"] == DIM
    assert item["model"] == "models/gemini-embedding-001"


async def test_gemini_query_embedding_asks_for_the_retrieval_query_task(server):
    server.respond = gemini_ok
    embedder = gemini(server)
    await embedder.embed(["what is the refund policy 1"], task=EmbeddingTask.QUERY)
    await embedder.aclose()
    assert server.requests[0].body["requests"][0]["taskType"] == "RETRIEVAL_QUERY"


async def test_gemini_rate_limit_is_retried_and_then_succeeds(server):
    server.queue.append(Reply(429, {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
                              headers={"Retry-After": "0"}))
    server.respond = gemini_ok
    embedder = gemini(server)
    vectors = await embedder.embed(["chunk 7"], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()
    assert vectors[0][0] == 7.0
    assert len(server.requests) == 2


async def test_gemini_rejected_api_key_fails_at_once_with_a_non_retryable_reason(server):
    server.respond = lambda r: Reply(401, {"error": {"code": 401, "message": "API key not valid", "status": "UNAUTHENTICATED"}})
    embedder = gemini(server)
    with pytest.raises(EmbeddingError) as error:
        await embedder.embed(["chunk 1"], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()
    assert not error.value.retryable
    assert "refused the API key" in error.value.reason
    assert len(server.requests) == 1


async def test_gemini_that_keeps_failing_gives_a_retryable_unavailable_error(server):
    server.respond = lambda r: Reply(503, {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})
    embedder = gemini(server)
    with pytest.raises(EmbeddingError) as error:
        await embedder.embed(["chunk 1"], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()
    assert error.value.retryable and error.value.code == "embedding_unavailable"
    assert len(server.requests) == 1 + FAST_RETRY.max_retries


async def test_gemini_vectors_of_the_wrong_dimension_fail_naming_both_dimensions(server):
    server.respond = lambda r: Reply(200, {"embeddings": [{"values": [0.1] * 5}]})
    embedder = gemini(server)
    with pytest.raises(EmbeddingError) as error:
        await embedder.embed(["chunk 1"], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()
    assert "dimension 5" in error.value.reason and f"expected {DIM}" in error.value.reason
    assert not error.value.retryable


# -- OpenAI-compatible -------------------------------------------------------------------------
async def test_openai_compatible_batches_and_orders_vectors_by_index(server):
    server.respond = openai_ok
    embedder = openai(server, batch_size=64)
    vectors = await embedder.embed([f"chunk {i}" for i in range(130)], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()

    assert [v[0] for v in vectors] == [float(i) for i in range(130)]
    assert [len(r.body["input"]) for r in server.requests] == [64, 64, 2]
    first = server.requests[0]
    assert first.path == "/v1/embeddings"
    assert first.headers["authorization"] == "Bearer sk-test"
    assert first.body["model"] == "text-embedding-3-small" and "dimensions" not in first.body


async def test_openai_compatible_sends_dimensions_only_when_the_settings_ask(server):
    server.respond = openai_ok
    embedder = openai(server, params={"dimensions": True})
    await embedder.embed(["chunk 1"], task=EmbeddingTask.QUERY)
    await embedder.aclose()
    assert server.requests[0].body["dimensions"] == DIM


async def test_openai_compatible_rate_limit_is_retried_and_then_succeeds(server):
    server.queue.append(Reply(429, {"error": {"message": "Rate limit reached"}}, headers={"Retry-After": "0"}))
    server.respond = openai_ok
    embedder = openai(server)
    vectors = await embedder.embed(["chunk 3"], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()
    assert vectors[0][0] == 3.0 and len(server.requests) == 2


async def test_openai_compatible_rate_limit_that_persists_is_a_retryable_rate_limited_error(server):
    server.respond = lambda r: Reply(429, {"error": {"message": "Rate limit reached"}}, headers={"Retry-After": "0"})
    embedder = openai(server)
    with pytest.raises(EmbeddingError) as error:
        await embedder.embed(["chunk 3"], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()
    assert error.value.retryable and error.value.code == "embedding_rate_limited"


async def test_openai_compatible_rejected_api_key_fails_without_retrying(server):
    server.respond = lambda r: Reply(401, {"error": {"message": "Incorrect API key provided"}})
    embedder = openai(server)
    with pytest.raises(EmbeddingError) as error:
        await embedder.embed(["chunk 1"], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()
    assert not error.value.retryable and "refused the API key" in error.value.reason
    assert len(server.requests) == 1


async def test_openai_compatible_unknown_model_fails_with_the_provider_message(server):
    server.respond = lambda r: Reply(404, {"error": {"message": "The model 'nope' does not exist"}})
    embedder = openai(server)
    with pytest.raises(EmbeddingError) as error:
        await embedder.embed(["chunk 1"], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()
    assert not error.value.retryable and "does not exist" in error.value.reason


async def test_openai_compatible_timeout_is_retried_then_reported_as_unavailable(server):
    server.respond = lambda r: Reply(200, {"data": []}, delay=0.5)
    embedder = openai(server, timeout=0.1, retry=RetryPolicy(max_retries=1, base_delay=0.01))
    with pytest.raises(EmbeddingError) as error:
        await embedder.embed(["chunk 1"], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()
    assert error.value.retryable and error.value.code == "embedding_unavailable"
    assert "timed out" in error.value.reason
    assert len(server.requests) == 2


async def test_openai_compatible_wrong_dimension_fails_naming_both_dimensions(server):
    server.respond = lambda r: Reply(200, {"data": [{"index": 0, "embedding": [0.5] * 3}]})
    embedder = openai(server)
    with pytest.raises(EmbeddingError) as error:
        await embedder.embed(["chunk 1"], task=EmbeddingTask.DOCUMENT)
    await embedder.aclose()
    assert "dimension 3" in error.value.reason and f"expected {DIM}" in error.value.reason
