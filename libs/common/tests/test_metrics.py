import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from knowrithm_common.metrics import PrometheusMiddleware


async def test_requests_are_labelled_by_route_template_not_raw_path():
    app = FastAPI()
    app.add_middleware(PrometheusMiddleware, service="metricstest")

    @app.get("/api/v1/agent/{agent_id}")
    async def agent(agent_id: str) -> dict:
        return {"id": agent_id}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for agent_id in ("a1", "b2", "c3"):
            assert (await c.get(f"/api/v1/agent/{agent_id}")).status_code == 200
        await c.get("/nowhere")

    def count(route: str, status: str) -> float:
        labels = {"service": "metricstest", "method": "GET", "route": route, "status": status}
        return REGISTRY.get_sample_value("knowrithm_http_requests_total", labels) or 0

    assert count("/api/v1/agent/{agent_id}", "200") == 3
    assert count("unmatched", "404") == 1
