"""The offline responder: answers by quoting the passages' sentences that match the question.

No model and no network, so an agent works (and tests run) without any provider. It is
deterministic, and it never follows instructions found in passages: their sentences are only
ever quoted, each followed by its citation, or the answer is the fixed "don't know" text.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from knowrithm_common.llm.base import Delta, Passage, Prompt, Usage

MODEL = "extractive-responder"
DONT_KNOW = "I don't know — I couldn't find that in the documents I have."
MAX_SENTENCES = 3

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either else ever few for from further
    get got had has have having he her here hers herself him himself his how i if in into is it its itself
    just know let like may me might more most much must my myself no nor not now of off on once only or
    other ought our ours ourselves out over own please same shall she should so some such tell than thank
    thanks that the their theirs them themselves then there these they this those through to too under
    until up us very was we were what when where which while who whom why will with would yes yet you your
    yours yourself yourselves hi hello want need
    """.split()
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\s*[-*•]\s)")
CITATION_LIKE = re.compile(r"\s*\[\d+\]")  # a passage's own "[n]" would pose as one of our citations
BULLET = re.compile(r"^[-*•]\s+")
WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class _Match:
    overlap: int
    number: int
    index: int
    sentence: str


class ExtractiveResponder:
    """Answers from `prompt.passages` alone, citing each quoted sentence as [n]."""

    def __init__(self, model: str = MODEL) -> None:
        self._model = model

    @property
    def model(self) -> str:
        return self._model

    async def stream(self, prompt: Prompt) -> AsyncIterator[Delta]:
        """The answer word by word (yielding to the loop between words), then done with word counts."""
        words = compose_answer(prompt).split(" ")
        for position, word in enumerate(words):
            yield Delta(word if position == len(words) - 1 else word + " ")
            await asyncio.sleep(0)  # lets a streaming response flush each piece as it comes
        yield Delta(done=True, usage=Usage(input_tokens=_prompt_words(prompt), output_tokens=len(words)))

    async def aclose(self) -> None:
        return None


def compose_answer(prompt: Prompt) -> str:
    """The quoted, cited sentences that best match the last user message, or `DONT_KNOW`."""
    question = next((m.content for m in reversed(prompt.messages) if m.role == "user"), "")
    wanted = content_words(question)
    matches = sorted(
        (match for match in _matches(prompt.passages, wanted) if match.overlap > 0),
        key=lambda match: (-match.overlap, match.number, match.index),
    )
    if not matches:
        return DONT_KNOW
    # Sentences sharing far fewer words than the best one are mostly noise next to it.
    strong = [match for match in matches if match.overlap * 2 >= matches[0].overlap]
    kept: dict[str, int] = {}
    for match in strong:
        if len(kept) == MAX_SENTENCES:
            break
        kept.setdefault(match.sentence, match.number)
    return " ".join(f"{sentence} [{number}]" for sentence, number in kept.items())


def content_words(text: str) -> set[str]:
    """Lowercase words minus stop words, with a plural "s" dropped so "refunds" matches "refund"."""
    words: set[str] = set()
    for word in WORD.findall(text.lower()):
        if word in STOP_WORDS or (len(word) == 1 and not word.isdigit()):
            continue
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return words


def split_sentences(text: str) -> list[str]:
    """The text's sentences, each on one line, without citation-like markers of its own."""
    pieces = (CITATION_LIKE.sub("", " ".join(piece.split())).strip() for piece in SENTENCE_END.split(text))
    return [BULLET.sub("", piece) for piece in pieces if piece]


def _matches(passages: Sequence[Passage], wanted: set[str]) -> list[_Match]:
    if not wanted:
        return []
    return [
        _Match(len(wanted & content_words(sentence)), passage.number, index, sentence)
        for passage in passages
        for index, sentence in enumerate(split_sentences(passage.content))
    ]


def _prompt_words(prompt: Prompt) -> int:
    return len(prompt.system.split()) + sum(len(message.content.split()) for message in prompt.messages)
