"""Chunking: token bounds, overlap, and the document structure (pages, sections, rows) it must respect."""

import hashlib
import itertools
import random
import re

import pytest

from knowrithm_ingestion.chunking import chunk_blocks, count_tokens
from knowrithm_ingestion.extraction import Block, BlockKind


def _sentences(prefix: str, count: int) -> list[str]:
    return [f"Sentence {prefix}-{i} talks about lighthouses and their keepers." for i in range(count)]


def _paragraph(prefix: str, count: int, *, page: int | None = None, heading: str | None = None) -> Block:
    return Block(" ".join(_sentences(prefix, count)), page=page, heading=heading)


def test_token_estimate_counts_words_numbers_and_punctuation():
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("internationalization") == 5  # long words: about one token per 4 letters
    assert count_tokens("1234567") == 3  # numbers: one token per 3 digits
    assert count_tokens("知识库") == 3  # CJK: one token per character


def test_chunks_stay_within_the_token_bound_whatever_the_text():
    rng = random.Random(7)
    vocabulary = ["a", "lighthouse", "keeper", "1997", "x" * 900, "électricité", "知识", "—", "don't", "9" * 50]
    blocks = [Block(" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 400))),
                    kind=rng.choice(list(BlockKind)), page=rng.choice([1, 2]), heading=rng.choice([None, "H"]))
              for _ in range(60)]

    chunks = chunk_blocks(blocks, max_tokens=120, overlap_tokens=30)

    assert chunks and max(c.token_count for c in chunks) <= 120
    assert all(c.token_count == count_tokens(c.text) for c in chunks)


def test_no_text_is_lost():
    blocks = [_paragraph("a", 40), Block("Short closing words.")]

    chunks = chunk_blocks(blocks, max_tokens=80, overlap_tokens=20)

    joined = " ".join(c.text for c in chunks)
    assert all(sentence in joined for sentence in [*_sentences("a", 40), "Short closing words."])


def test_chunks_never_mix_pages():
    blocks = [_paragraph(f"p{page}", 12, page=page) for page in (1, 2, 3)]

    chunks = chunk_blocks(blocks, max_tokens=200, overlap_tokens=40)

    for chunk in chunks:
        assert {f"p{page}-" in chunk.text for page in (1, 2, 3)} == {True, False}
        assert f"p{chunk.page}-" in chunk.text
    assert {c.page for c in chunks} == {1, 2, 3}


def test_consecutive_chunks_of_a_section_overlap_by_whole_sentences():
    chunks = chunk_blocks([_paragraph("o", 30)], max_tokens=100, overlap_tokens=30)

    assert len(chunks) > 3
    for previous, current in itertools.pairwise(chunks):
        before, after = re.split(r"(?<=\.) ", previous.text), re.split(r"(?<=\.) ", current.text)
        start = before.index(after[0])  # the next chunk opens with a sentence the previous one ended with
        repeated = before[start:]
        assert repeated == after[:len(repeated)]
        assert 1 <= len(repeated) and count_tokens(" ".join(repeated)) <= 30


def test_no_overlap_across_pages_or_sections():
    blocks = [_paragraph("one", 6, page=1), _paragraph("two", 6, page=2),
              Block("Next part", kind=BlockKind.HEADING), _paragraph("three", 6)]

    chunks = chunk_blocks(blocks, max_tokens=200, overlap_tokens=50)

    assert [c.text.count("Sentence one-") for c in chunks] == [6, 0, 0]
    assert "Sentence two-" not in chunks[2].text


def test_rows_are_never_split_across_chunks():
    rows = [f"name: person {i}; city: {'Springfield ' * (i % 5)}; id: {i}" for i in range(80)]

    chunks = chunk_blocks([Block(r, kind=BlockKind.ROW) for r in rows], max_tokens=60, overlap_tokens=15)

    for chunk in chunks:
        assert all(line in rows for line in chunk.text.split("\n"))
    assert {line for c in chunks for line in c.text.split("\n")} == set(rows)


def test_a_row_longer_than_a_chunk_is_split_into_its_own_chunks():
    long_row = "; ".join(f"column {i}: value {i}" for i in range(100))
    blocks = [Block("a: 1", kind=BlockKind.ROW), Block(long_row, kind=BlockKind.ROW), Block("b: 2", kind=BlockKind.ROW)]

    chunks = chunk_blocks(blocks, max_tokens=60, overlap_tokens=10)

    assert chunks[0].text == "a: 1" and chunks[-1].text == "b: 2"
    assert " ".join(c.text for c in chunks[1:-1]) == long_row


def test_a_heading_starts_a_chunk_and_is_the_first_line_of_each_chunk_under_it():
    blocks = [Block("Intro words.", page=1),
              Block("Safety rules", kind=BlockKind.HEADING, level=2, heading="Manual > Safety rules", page=1),
              _paragraph("s", 20, page=1)]

    chunks = chunk_blocks(blocks, max_tokens=80, overlap_tokens=10)

    assert chunks[0].text == "Intro words." and chunks[0].heading is None
    assert len(chunks) > 2
    assert chunks[1].text.startswith("Manual > Safety rules\nSentence s-0 ")
    for chunk in chunks[1:]:
        assert chunk.heading == "Manual > Safety rules"
        assert chunk.text.startswith("Manual > Safety rules\n")


def test_a_title_directly_above_a_subheading_is_not_a_chunk_of_its_own():
    blocks = [Block("Guide", kind=BlockKind.HEADING, heading="Guide", level=1),
              Block("Setup", kind=BlockKind.HEADING, heading="Guide > Setup", level=2),
              Block("Install it."), Block("Appendix", kind=BlockKind.HEADING, heading="Appendix", level=1)]

    assert [c.text for c in chunk_blocks(blocks)] == ["Guide > Setup\nInstall it.", "Appendix"]


def test_an_overlong_sentence_is_cut_between_words_and_a_giant_word_inside_itself():
    blocks = [Block(" ".join(["lighthouse"] * 300)), Block("z" * 5000)]

    chunks = chunk_blocks(blocks, max_tokens=50, overlap_tokens=0)

    assert max(c.token_count for c in chunks) <= 50
    assert "".join(c.text for c in chunks if c.text.startswith("z")) == "z" * 5000


def test_short_paragraphs_are_kept_whole_rather_than_straddling_chunks():
    blocks = [_paragraph("first", 5), _paragraph("second", 5), _paragraph("third", 5)]

    chunks = chunk_blocks(blocks, max_tokens=120, overlap_tokens=0)

    for prefix in ("first", "second", "third"):
        assert sum(f"Sentence {prefix}-" in c.text for c in chunks) == 1


def test_a_record_too_long_for_one_chunk_is_split_between_its_lines():
    record = "\n".join(f"items[0].field{i}: value number {i}" for i in range(40))

    chunks = chunk_blocks([Block(record, kind=BlockKind.ROW)], max_tokens=50, overlap_tokens=10)

    assert len(chunks) > 1
    assert [line for c in chunks for line in c.text.split("\n")] == record.split("\n")


def test_same_blocks_give_the_same_chunks():
    blocks = [_paragraph("d", 25, page=1), Block("x: 1", kind=BlockKind.ROW, page=2)]

    assert chunk_blocks(blocks, max_tokens=90, overlap_tokens=20) == chunk_blocks(list(blocks), max_tokens=90,
                                                                                  overlap_tokens=20)


def test_chunks_are_numbered_and_carry_hash_and_word_count():
    chunks = chunk_blocks([_paragraph("n", 30)], max_tokens=100, overlap_tokens=20)

    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.content_hash == hashlib.sha256(chunk.text.encode()).hexdigest()
        assert chunk.word_count == len(chunk.text.split())


@pytest.mark.parametrize(("max_tokens", "overlap_tokens"), [(8, 0), (100, 60), (100, -1)])
def test_unusable_bounds_are_refused(max_tokens, overlap_tokens):
    with pytest.raises(ValueError):
        chunk_blocks([Block("x")], max_tokens=max_tokens, overlap_tokens=overlap_tokens)
