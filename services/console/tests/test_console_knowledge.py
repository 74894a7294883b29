"""The Knowledge screen's pure helpers: when polling stops, which checkboxes count."""

from __future__ import annotations

import uuid

from knowrithm_console.pages.knowledge import is_final, selected_ids


def test_polling_stops_only_when_every_document_is_processed_or_failed() -> None:
    assert is_final([])
    assert is_final([{"status": "processed"}, {"status": "failed"}])
    assert not is_final([{"status": "processed"}, {"status": "processing"}])
    assert not is_final([{"status": "pending"}])


def test_selected_ids_keep_well_formed_ids_once_in_order() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert selected_ids([b, "not-an-id", a, b, "", a.upper()]) == [b, a]
