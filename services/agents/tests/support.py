"""Shared helpers of the agents tests: principals, the seeded catalogue, a fake provider server."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from knowrithm_common.identity import Principal, Role

SUPER = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)


def company_principals() -> tuple[uuid.UUID, Principal, Principal]:
    """A fresh company with its admin and a plain member."""
    company = uuid.uuid4()
    admin = Principal(kind="user", user_id=uuid.uuid4(), company_id=company, role=Role.ADMIN)
    user = Principal(kind="user", user_id=uuid.uuid4(), company_id=company, role=Role.USER)
    return company, admin, user


def api_key(company: uuid.UUID, *scopes: str) -> Principal:
    return Principal(
        kind="api_key",
        user_id=uuid.uuid4(),
        company_id=company,
        role=Role.ADMIN,
        api_key_id=uuid.uuid4(),
        scopes=list(scopes),
    )


async def catalogue(call) -> dict[str, dict]:
    """Seed the catalogue; answers {provider value: {"id":..., "models": {name: id}}}."""
    r = await call("POST", "/api/v1/settings/providers/seed", SUPER)
    assert r.status_code == 200, r.text
    listed = (await call("GET", "/api/v1/providers?include_models=true", SUPER)).json()["providers"]
    return {p["value"]: {"id": p["id"], "models": {m["name"]: m["id"] for m in p["models"]}} for p in listed}


def ids(cat: dict, llm: tuple[str, str], embedding: tuple[str, str]) -> dict[str, str]:
    return {
        "llm_provider_id": cat[llm[0]]["id"],
        "llm_model_id": cat[llm[0]]["models"][llm[1]],
        "embedding_provider_id": cat[embedding[0]]["id"],
        "embedding_model_id": cat[embedding[0]]["models"][embedding[1]],
    }


OFFLINE = (("offline", "extractive-responder"), ("offline", "offline-embedder"))


class FakeProvider:
    """A local HTTP server speaking the Gemini REST (generateContent, batchEmbedContents, key in
    x-goog-api-key) and OpenAI (chat/completions, embeddings, Bearer key) wire formats; only
    `good_key` is accepted, anything else answers 401 like the real providers."""

    def __init__(self, good_key: str) -> None:
        self.good_key = good_key
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                outer.requests.append(("POST", self.path))
                gemini = ":generateContent" in self.path or ":batchEmbedContents" in self.path
                key = (
                    self.headers.get("x-goog-api-key")
                    if gemini
                    else (self.headers.get("authorization") or "").removeprefix("Bearer ")
                )
                if key != outer.good_key:
                    body = {
                        "error": {
                            "code": 401,
                            "message": "API key not valid. Please pass a valid API key.",
                            "status": "UNAUTHENTICATED",
                        }
                    }
                    return self._send(401, body)
                if ":generateContent" in self.path:
                    return self._send(
                        200,
                        {
                            "candidates": [
                                {
                                    "content": {"role": "model", "parts": [{"text": "ok"}]},
                                    "finishReason": "STOP",
                                }
                            ]
                        },
                    )
                if ":batchEmbedContents" in self.path:
                    return self._send(200, {"embeddings": [{"values": [0.1, 0.2, 0.3]}]})
                if self.path.endswith("/chat/completions"):
                    return self._send(
                        200,
                        {
                            "id": "x",
                            "object": "chat.completion",
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": "ok"},
                                    "finish_reason": "stop",
                                }
                            ],
                        },
                    )
                if self.path.endswith("/embeddings"):
                    return self._send(
                        200, {"object": "list", "data": [{"index": 0, "embedding": [0.1, 0.2]}]}
                    )
                return self._send(404, {"error": {"message": "not found"}})

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
