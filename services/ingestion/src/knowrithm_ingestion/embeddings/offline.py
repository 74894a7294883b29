"""Deterministic hashed embeddings that need no model and no network (development, tests, air-gapped).

Features are lower-cased words, word bigrams and the character trigrams of each word (so
"refund" and "refunds" still meet), hashed with blake2b into signed buckets (the feature
hashing trick). Bucket values are damped with a signed square root (sublinear term frequency)
and the vector is L2-normalised, so texts sharing words have a higher cosine than unrelated
ones. Everything after blake2b is integer arithmetic, sums in a fixed order and IEEE-exact
square roots: the same text gives the same vector in every process and on every machine
(Python's `hash()` is salted per process and is never used).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from knowrithm_ingestion.embeddings.base import EmbeddingError, EmbeddingTask, ModelEmbedder

MODEL = "offline-embedder"
DEFAULT_DIMENSION = 384
MIN_DIMENSION = 8
THREAD_THRESHOLD = 32  # larger batches are embedded off the event loop
WORD_RE = re.compile(r"\w+")
# An empty text still gets a unit vector (cosine needs a non-zero norm).
EMPTY_TOKEN = "\x00empty"  # noqa: S105 - not a secret

UNIGRAM_WEIGHT = 1.0
BIGRAM_WEIGHT = 0.7
TRIGRAM_WEIGHT = 0.25

_U64 = np.uint64


def _blake(text: str, person: bytes) -> int:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, person=person).digest()
    return int.from_bytes(digest, "little")


@lru_cache(maxsize=200_000)
def _word_features(word: str) -> tuple[int, npt.NDArray[np.uint64]]:
    """The word's own hash and the hashes of its character trigrams (with boundary marks)."""
    marked = f"<{word}>"
    trigrams = [_blake(marked[i : i + 3], b"kr-tri") for i in range(len(marked) - 2)]
    array = np.array(trigrams, dtype=np.uint64)
    array.flags.writeable = False  # shared through the cache
    return _blake(word, b"kr-word"), array


def _mix(left: npt.NDArray[np.uint64], right: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Combine two word hashes into a bigram hash (splitmix64 finaliser; wraps modulo 2**64)."""
    with np.errstate(over="ignore"):
        h = left * _U64(0x9E3779B97F4A7C15) ^ right
        h ^= h >> _U64(30)
        h *= _U64(0xBF58476D1CE4E5B9)
        h ^= h >> _U64(27)
        h *= _U64(0x94D049BB133111EB)
        h ^= h >> _U64(31)
    return h


def _features(
    tokens: list[list[str]],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Feature hashes of every text, the row each belongs to, and its weight."""
    counts = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    word_owner = np.repeat(np.arange(len(tokens), dtype=np.int64), counts)
    features = [_word_features(word) for text in tokens for word in text]
    words = np.fromiter((f[0] for f in features), dtype=np.uint64, count=len(features))
    same_text = word_owner[:-1] == word_owner[1:]  # bigrams never span two texts
    bigrams = _mix(words[:-1][same_text], words[1:][same_text])
    trigram_arrays = [f[1] for f in features]
    trigram_counts = np.fromiter(map(len, trigram_arrays), dtype=np.int64, count=len(features))
    trigrams = np.concatenate(trigram_arrays) if trigram_arrays else np.zeros(0, dtype=np.uint64)
    hashes = np.concatenate([words, bigrams, trigrams])
    owners = np.concatenate([word_owner, word_owner[:-1][same_text], np.repeat(word_owner, trigram_counts)])
    weights = np.concatenate([
        np.full(len(words), UNIGRAM_WEIGHT),
        np.full(len(bigrams), BIGRAM_WEIGHT),
        np.full(len(trigrams), TRIGRAM_WEIGHT),
    ])
    return hashes, owners, weights


class OfflineEmbedder(ModelEmbedder):
    """Feature-hashing embedder: no model download, no network, identical output everywhere."""

    def __init__(self, *, dimension: int = DEFAULT_DIMENSION, model: str = MODEL) -> None:
        if dimension < MIN_DIMENSION:
            raise EmbeddingError(
                f"The offline embedder needs a dimension of at least {MIN_DIMENSION} (got {dimension}). "
                "Set a larger embedding dimension in the agent's settings.",
                code="embedding_misconfigured",
            )
        super().__init__(model=model, dimension=dimension)

    async def embed(self, texts: Sequence[str], *, task: EmbeddingTask) -> list[list[float]]:
        """One unit vector per text; queries and documents are embedded alike."""
        if not texts:
            return []
        if len(texts) > THREAD_THRESHOLD:
            return (await asyncio.to_thread(self.embed_sync, texts)).tolist()
        return self.embed_sync(texts).tolist()

    def embed_sync(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The embeddings as a (len(texts), dimension) float32 array."""
        rows, dim = len(texts), self._dimension
        tokens = [WORD_RE.findall(text.lower()) or [EMPTY_TOKEN] for text in texts]
        hashes, owners, weights = _features(tokens)
        buckets = (hashes % _U64(dim)).astype(np.int64)
        signs = np.where(hashes >> _U64(63), -1.0, 1.0)
        matrix = np.bincount(owners * dim + buckets, weights=signs * weights, minlength=rows * dim)
        matrix = np.sign(matrix) * np.sqrt(np.abs(matrix))  # sublinear: repeated terms count less
        matrix = matrix.reshape(rows, dim)
        norms = np.sqrt((matrix * matrix).sum(axis=1, keepdims=True))
        return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)
