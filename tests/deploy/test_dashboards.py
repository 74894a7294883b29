"""deploy/grafana/dashboards: the dashboards Grafana provisions, checked statically.

A dashboard that queries a metric nobody exports shows "No data" forever, which looks like
an idle platform rather than a broken panel. So every `knowrithm_*` series named in a query
must be one the code registers with prometheus_client: the modules that define metrics are
found by scanning libs/*/src and services/*/src for metric constructors, imported, and the
default registry lists what a scrape of them would expose (a counter as `<name>_total`, a
histogram as `<name>_bucket`/`_sum`/`_count`). Label names in selectors and `by (...)` must
belong to the metrics of the same query. Mounting the files is checked in test_compose.py.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "deploy" / "grafana" / "dashboards"
DASHBOARDS = sorted(DASHBOARD_DIR.glob("*.json"))
DATASOURCES = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/prometheus.yaml").read_text())

METRIC_DEFINITION = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary)\(\s*\"knowrithm_")
METRIC_NAME = re.compile(r"\bknowrithm_[a-z0-9_]+")
SELECTOR = re.compile(r"\b(knowrithm_[a-z0-9_]+)\{([^}]*)\}")
MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count"),
            "gauge": ("",)}


def _metric_modules() -> list[str]:
    modules = []
    for src in [*REPO.glob("libs/*/src"), *REPO.glob("services/*/src")]:
        for path in src.rglob("*.py"):
            if METRIC_DEFINITION.search(path.read_text()):
                modules.append(".".join(path.relative_to(src).with_suffix("").parts))
    return sorted(modules)


def _exported_series() -> dict[str, set[str]]:
    """Series name a scrape would show -> the label names it carries."""
    for module in _metric_modules():
        importlib.import_module(module)
    series: dict[str, set[str]] = {}
    # The registry's index is private, but it is the only place that keeps label names of
    # metrics no request has touched yet (their families have no samples to read them from).
    collectors = REGISTRY._names_to_collectors
    for family in REGISTRY.collect():
        if not family.name.startswith("knowrithm_"):
            continue
        for suffix in SUFFIXES.get(family.type, ("",)):
            name = family.name + suffix
            labels = set(getattr(collectors.get(name), "_labelnames", ()))
            series[name] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


EXPORTED = _exported_series()


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        exprs.append(query.get("query", "") if isinstance(query, dict) else str(query or ""))
    return exprs


def _problems(expr: str) -> list[str]:
    names = set(METRIC_NAME.findall(expr))
    problems = [f"{name} is not exported by any service" for name in sorted(names - EXPORTED.keys())]
    if problems:
        return problems  # its labels cannot be checked: report the name alone
    known = set().union(*(EXPORTED.get(n, set()) for n in names))
    for metric, matchers in SELECTOR.findall(expr):
        problems += [f"{metric} has no label {label!r}" for label in MATCHER_LABEL.findall(matchers)
                     if metric in EXPORTED and label not in EXPORTED[metric]]
    for grouping in GROUPING.findall(expr):
        labels = [label.strip() for label in grouping.split(",") if label.strip()]
        problems += [f"no metric in the query has label {label!r}" for label in labels if label not in known]
    return problems


def test_the_platform_ingestion_chat_and_business_dashboards_exist():
    assert {p.stem for p in DASHBOARDS} >= {"platform", "ingestion", "chat", "business"}


def test_metric_modules_are_found_and_export_the_request_series():
    assert "knowrithm_common.metrics" in _metric_modules()
    assert {"knowrithm_http_requests_total", "knowrithm_http_request_duration_seconds_bucket"} <= EXPORTED.keys()


def test_dashboards_have_unique_uids_and_titles():
    dashboards = [_load(p) for p in DASHBOARDS]
    uids, titles = [d["uid"] for d in dashboards], [d["title"] for d in dashboards]
    assert all(uids) and len(set(uids)) == len(uids)
    assert all(titles) and len(set(titles)) == len(titles)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_is_placed_and_queries_the_provisioned_prometheus(path):
    dashboard = _load(path)
    (source,) = DATASOURCES["datasources"]
    assert dashboard["panels"], "a dashboard without panels"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["targets"], f"{panel['title']}: no queries"
        for target in panel["targets"]:
            assert target["expr"].strip(), f"{panel['title']}: empty query"
            for ds in (panel["datasource"], target["datasource"]):
                assert ds == {"type": "prometheus", "uid": source["uid"]}, panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboards_query_only_metrics_and_labels_the_services_export(path):
    problems = {expr: found for expr in _queries(_load(path)) if (found := _problems(expr))}
    assert not problems, json.dumps(problems, indent=2)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_queries_have_balanced_brackets(path):
    # No promtool here: catch the typo that makes Grafana show a parse error instead of a graph.
    for expr in _queries(_load(path)):
        depth = {"(": 0, "{": 0, "[": 0}
        closing = {")": "(", "}": "{", "]": "["}
        for char in expr:
            if char in depth:
                depth[char] += 1
            elif char in closing:
                depth[closing[char]] -= 1
                assert depth[closing[char]] >= 0, expr
        assert not any(depth.values()), expr
