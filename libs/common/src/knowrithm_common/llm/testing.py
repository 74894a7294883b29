"""A local HTTP server (http.server on 127.0.0.1, in a thread) speaking the LLM providers' wire formats.

It records each request and answers with a scripted `Reply`: an error status with a JSON body,
or a 200 streaming server-sent events (`data: {json}` + blank line) with chunked transfer
encoding, so a connection dropped mid-answer looks to the client exactly as it would in real life.
Payloads are UTF-8 JSON with non-ASCII left unescaped, as the providers send them.
The chunk builders follow Gemini's `streamGenerateContent?alt=sse` and OpenAI's
`chat.completion.chunk` formats.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_LIMIT = 5.0  # seconds a held stream waits for the test before giving up


@dataclass
class Reply:
    status: int = 200
    events: list[str] = field(default_factory=list)  # the SSE data payloads, sent one by one
    body: Any = None  # the JSON body of an error reply
    hang: float = 0.0  # seconds of silence before the status line (timeouts)
    hang_after: int | None = None  # go silent (for `hang` seconds) after this many events
    drop_after: int | None = None  # close the connection after this many events, unfinished
    hold: threading.Event | None = None  # after `hold_after` events, wait until the test sets this
    hold_after: int = 1
    separator: str = "\n\n"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


class LlmServer:
    """Answers each POST with `respond(request)` (or the next queued reply) and records requests."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.queue: list[Reply] = []
        self.respond: Callable[[Request], Reply] = lambda request: Reply(500, body={"error": "no reply set"})
        self.held: list[bool] = []  # per held reply: did the test release it in time?
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # chunked responses, as the providers send them

            def handle(self) -> None:
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client closed a kept-alive connection

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()},
                                  json.loads(self.rfile.read(length) or b"null"))
                server.requests.append(request)
                reply = server.queue.pop(0) if server.queue else server.respond(request)
                try:
                    server._wait(reply.hang if reply.hang_after is None else 0.0)
                    if reply.status != 200:
                        self._send_json(reply)
                    else:
                        self._send_events(reply)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (timeout tests)

            def _send_json(self, reply: Reply) -> None:
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _send_events(self, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for sent, event in enumerate(reply.events):
                    if sent == reply.drop_after:
                        self.close_connection = True  # no terminating chunk: the body is incomplete
                        return
                    if sent == reply.hang_after:
                        server._wait(reply.hang)
                    self._chunk(f"data: {event}{reply.separator}".encode())
                    if sent + 1 == reply.hold_after and reply.hold is not None:
                        server.held.append(reply.hold.wait(HOLD_LIMIT))
                self._chunk(b"")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _wait(self, seconds: float) -> None:
        if seconds:
            self._closing.wait(seconds)

    def __enter__(self) -> LlmServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # ends any hang early
        self._httpd.shutdown()
        self._httpd.server_close()


# -- Gemini: POST /{version}/models/{model}:streamGenerateContent?alt=sse ----------------------
def gemini_stream(texts: list[str], *, prompt_tokens: int = 12, finish: str | None = "STOP") -> list[str]:
    """The SSE payloads of a Gemini answer: one candidate chunk per text, usage on each, finish last."""
    events = []
    for position, text in enumerate(texts, start=1):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
        if position == len(texts) and finish:
            candidate["finishReason"] = finish
        usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": position,
                 "totalTokenCount": prompt_tokens + position}
        events.append(json.dumps({"candidates": [candidate], "usageMetadata": usage,
                                  "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}, ensure_ascii=False))
    return events


def gemini_function_calls(calls: list[tuple[str, dict[str, Any]]], *, signature: str | None = None,
                          prompt_tokens: int = 12) -> list[str]:
    """The SSE payload of a Gemini turn that calls functions: one chunk whose parts are the
    `functionCall`s (name, args; the first with `thoughtSignature`, base64, when given), finish STOP."""
    parts: list[dict[str, Any]] = []
    for name, args in calls:
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        if signature and not parts:
            part["thoughtSignature"] = signature
        parts.append(part)
    candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
    usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": len(calls),
             "totalTokenCount": prompt_tokens + len(calls)}
    return [json.dumps({"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash",
                        "responseId": "resp-2"}, ensure_ascii=False)]


def gemini_error(status: int, message: str, *, reason: str | None = None) -> dict[str, Any]:
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
             429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
    error: dict[str, Any] = {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                             "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]
    return {"error": error}


# -- OpenAI: POST /v1/chat/completions with "stream": true ------------------------------------
def openai_stream(texts: list[str], *, prompt_tokens: int = 12, done: bool = True) -> list[str]:
    """The SSE payloads of an OpenAI answer: role chunk, one chunk per text, finish, usage, [DONE]."""

    def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        return json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000,
                           "model": "gpt-4o-mini", "choices": choices, "usage": usage}, ensure_ascii=False)

    events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    events += [chunk([{"index": 0, "delta": {"content": text}, "finish_reason": None}]) for text in texts]
    if done:
        events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        events.append(chunk([], {"prompt_tokens": prompt_tokens, "completion_tokens": len(texts),
                                 "total_tokens": prompt_tokens + len(texts)}))
        events.append("[DONE]")
    return events


def openai_tool_calls(calls: list[tuple[str, str, str]], *, prompt_tokens: int = 12, pieces: int = 3,
                      text: str = "") -> list[str]:
    """The SSE payloads of an OpenAI turn that calls tools: `calls` are (id, name, arguments JSON);
    each call's id and name come in its first `delta.tool_calls` piece, its arguments split into
    `pieces` parts over the following chunks (as OpenAI streams them), then finish_reason
    "tool_calls", usage and [DONE]. `text` is content the model says before calling."""

    def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        return json.dumps({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1700000000,
                           "model": "gpt-4o-mini", "choices": choices, "usage": usage}, ensure_ascii=False)

    def delta(value: dict[str, Any]) -> str:
        return chunk([{"index": 0, "delta": value, "finish_reason": None}])

    events = [delta({"role": "assistant", "content": None})]
    if text:
        events.append(delta({"content": text}))
    for index, (call_id, name, arguments) in enumerate(calls):
        events.append(delta({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                             "function": {"name": name, "arguments": ""}}]}))
        size = max(1, -(-len(arguments) // pieces))
        for start in range(0, len(arguments), size):
            part = arguments[start:start + size]
            events.append(delta({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
    events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]))
    events.append(chunk([], {"prompt_tokens": prompt_tokens, "completion_tokens": len(calls),
                             "total_tokens": prompt_tokens + len(calls)}))
    events.append("[DONE]")
    return events


def openai_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
