"""Reciprocal-rank fusion: merge ranked lists whose scores are not comparable (cosine vs ts_rank)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

DEFAULT_K = 60  # Cormack et al.'s constant: damps the weight of the very first ranks


def rrf(
    rank_lists: Sequence[Sequence[K]], *, k: int = DEFAULT_K, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Fuse lists of ids (best first) into (id, score) pairs, best first.

    Each list adds `weight / (k + rank)` (rank from 1) to every id it holds; ties keep the
    order in which ids were first seen, so equal inputs always give equal outputs.
    """
    if weights is None:
        weights = [1.0] * len(rank_lists)
    if len(weights) != len(rank_lists):
        raise ValueError("rrf needs one weight per ranked list")
    scores: dict[K, float] = {}
    for ranked, weight in zip(rank_lists, weights, strict=True):
        for rank, key in enumerate(ranked, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    order = {key: position for position, key in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))
