"""The document timeline's pure helpers: attempts grouped newest first, durations and failure reasons
as a person reads them, in English and German."""

from __future__ import annotations

from types import SimpleNamespace

from knowrithm_console import i18n
from knowrithm_console.pages.timeline import attempts_of, duration, latest, reason_of


def in_language(language: str) -> SimpleNamespace:
    l10n = i18n.Localization(language, "Europe/Berlin")
    i18n.current.set(l10n)
    return SimpleNamespace(l10n=l10n)


def test_attempts_are_grouped_newest_first_keeping_each_attempts_order() -> None:
    events = [{"stage": "received", "status": "queued", "attempt": 1},
              {"stage": "processing", "status": "started", "attempt": 1},
              {"stage": "reprocess", "status": "queued", "attempt": 2}]
    runs = attempts_of(events)
    assert [r.number for r in runs] == [2, 1]
    assert [e["stage"] for e in runs[1].events] == ["received", "processing"]
    assert attempts_of([]) == []


def test_durations_read_in_milliseconds_seconds_or_minutes_in_the_readers_language() -> None:
    page = in_language("en")
    assert (duration(page, 340), duration(page, 2450), duration(page, 185_000)) == ("340 ms", "2.5 s",
                                                                                    "3 min 5 s")
    assert duration(page, None) == ""
    assert duration(in_language("de"), 2450) == "2,5 s"


def test_failure_reasons_are_translated_where_the_code_is_known() -> None:
    in_language("de")
    dead = {"status": "dead_lettered", "reason": "OperationalError: connection refused", "code": "dead_lettered"}
    assert "zurückgestellt" in (reason_of(dead) or "")
    assert (reason_of({"status": "failed", "code": "no_text", "reason": "No text"}) or "").startswith("In der Datei")
    unknown = {"status": "failed", "code": "embedding_rejected", "reason": "The embedding provider rejected it"}
    assert reason_of(unknown) == "The embedding provider rejected it"
    assert latest([{"stage": "processed", "status": "completed"}]) == "Verarbeitet: Fertig"
    in_language("en")
    assert latest([{"stage": "embedding", "status": "retrying"}]) == "Computing embeddings: Failed, tried again"
    assert latest([]) == ""
