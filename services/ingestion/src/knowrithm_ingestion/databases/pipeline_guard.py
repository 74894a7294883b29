"""The MongoDB guard: an aggregation pipeline runs only when every stage is on the allow-list.

MongoDB is queried through `aggregate` only. Stages that write (`$out`, `$merge`), run server-side
JavaScript (`$function`, `$accumulator`, `$where`) or look at the server (`$currentOp`,
`$listSessions`, `$collStats`, …) are refused wherever they appear in the tree, including inside
`$match`, `$expr`, `$facet` and `$lookup` sub-pipelines. `$lookup`, `$graphLookup` and
`$unionWith` may read only this connection's collections. A `$limit` is appended and the result
carries the `maxTimeMS` the executor passes to the server.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from knowrithm_common.errors import ValidationFailed

_STAGES = frozenset(
    {
        "$match", "$project", "$group", "$sort", "$limit", "$skip", "$unwind", "$count",
        "$lookup", "$addFields", "$set", "$unset", "$replaceRoot", "$replaceWith", "$facet",
        "$bucket", "$bucketAuto", "$sortByCount", "$unionWith", "$graphLookup", "$sample",
    }
)  # fmt: skip
# Operators refused at any depth: JavaScript on the server, writes, and server introspection.
_FORBIDDEN_OPERATORS = frozenset(
    {
        "$out", "$merge", "$function", "$accumulator", "$where", "$currentOp", "$listSessions",
        "$listLocalSessions", "$collStats", "$indexStats", "$planCacheStats", "$changeStream",
        "$listSearchIndexes", "$documents", "$shardedDataDistribution", "$querySettings",
    }
)  # fmt: skip
_MAX_DEPTH = 64


class PipelineRefused(ValidationFailed):
    """An aggregation pipeline the guard will not send to a company's MongoDB."""

    code = "pipeline_refused"
    message = "This pipeline is not allowed"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"This pipeline is not allowed: {reason}", detail={"reason": reason})


@dataclass(frozen=True)
class GuardedPipeline:
    """What to pass to `collection.aggregate(pipeline, maxTimeMS=max_time_ms)`."""

    collection: str
    pipeline: list[dict[str, Any]]
    limit: int
    max_time_ms: int


def check_pipeline(
    collection: str,
    pipeline: list[dict[str, Any]],
    *,
    collections: Collection[str] | None,
    limit: int,
    max_time_ms: int,
) -> GuardedPipeline:
    """Check an aggregation pipeline for one collection and bound it, or raise PipelineRefused."""
    if limit < 1 or max_time_ms < 1:
        raise ValueError("limit and max_time_ms must be at least 1")
    allowed = set(collections) if collections is not None else None
    _check_collection(collection, allowed)
    _check_stages(pipeline, allowed, depth=0)
    bounded = [dict(stage) for stage in pipeline] + [{"$limit": limit}]
    return GuardedPipeline(collection=collection, pipeline=bounded, limit=limit, max_time_ms=max_time_ms)


def _check_collection(name: Any, allowed: set[str] | None) -> None:
    if not isinstance(name, str) or not name:
        raise PipelineRefused("a collection must be named by a non-empty string")
    if name.startswith("system.") or ".system." in name:
        raise PipelineRefused(f"system collection {name} is not allowed")
    if allowed is not None and name not in allowed:
        raise PipelineRefused(f"collection {name} is not one of this connection's collections")


def _check_stages(pipeline: Any, allowed: set[str] | None, *, depth: int) -> None:
    if not isinstance(pipeline, list):
        raise PipelineRefused("a pipeline must be a list of stages")
    for stage in pipeline:
        if not isinstance(stage, dict) or len(stage) != 1:
            raise PipelineRefused("each stage must be an object with exactly one operator")
        ((name, spec),) = stage.items()
        if name in _FORBIDDEN_OPERATORS:
            raise PipelineRefused(f"stage {name} is not allowed")
        if name not in _STAGES:
            raise PipelineRefused(f"stage {name} is not allowed (unknown or not read-only)")
        _check_operators(spec, depth=depth + 1)
        _check_nested(name, spec, allowed, depth=depth + 1)


def _check_nested(name: str, spec: Any, allowed: set[str] | None, *, depth: int) -> None:
    if name in ("$lookup", "$graphLookup", "$unionWith"):
        if isinstance(spec, str) and name == "$unionWith":
            spec = {"coll": spec}
        if not isinstance(spec, dict):
            raise PipelineRefused(f"{name} must be an object")
        if "db" in spec:
            raise PipelineRefused(f"{name} into another database is not allowed")
        _check_collection(spec.get("coll" if name == "$unionWith" else "from"), allowed)
        if "pipeline" in spec:
            _check_stages(spec["pipeline"], allowed, depth=depth)
    elif name == "$facet":
        if not isinstance(spec, dict):
            raise PipelineRefused("$facet must map names to pipelines")
        for sub in spec.values():
            _check_stages(sub, allowed, depth=depth)


def _check_operators(value: Any, *, depth: int) -> None:
    """Refuse forbidden operators anywhere in a stage (`$where` in `$match`, `$function` in `$expr`)."""
    if depth > _MAX_DEPTH:
        raise PipelineRefused("the pipeline is nested too deeply")
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(key, str) and key in _FORBIDDEN_OPERATORS:
                raise PipelineRefused(f"operator {key} is not allowed")
            _check_operators(inner, depth=depth + 1)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            _check_operators(inner, depth=depth + 1)
