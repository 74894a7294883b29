"""A tiny ASGI app standing in for a platform process in the stack's own tests."""

import json
import os

EXPOSED = (
    "KNOWRITHM_ENV",
    "DATABASE_URL",
    "NATS_URL",
    "REDIS_URL",
    "KNOWRITHM_ASSERTION_PRIVATE_KEY",
    "KNOWRITHM_ASSERTION_PUBLIC_KEY",
    "KNOWRITHM_JWT_PRIVATE_KEY",
    "KNOWRITHM_JWT_PUBLIC_KEY",
    "SUPER_ADMIN_EMAIL",
    "SUPER_ADMIN_PASSWORD",
    "GATEWAY_AUTH_URL",
    "GATEWAY_WORKER_URL",
)


def create_app():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] in ("/health/ready", "/health/live"):
            status, body = 200, {"status": "ready", "pid": os.getpid()}
        elif scope["path"] == "/env":
            status, body = 200, {name: os.environ.get(name) for name in EXPOSED}
        else:
            status, body = 404, {"detail": "not found"}
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    return app
