"""Secrets at rest: what is stored cannot be read without the key, and keys can rotate."""

import pytest

from knowrithm_common.crypto import SecretBox, UndecryptableSecret, generate_key, hint


def test_stored_value_is_not_the_secret_and_decrypts_back():
    box = SecretBox(generate_key())
    stored = box.encrypt("sk-live-1234567890")
    assert "sk-live" not in stored and box.decrypt(stored) == "sk-live-1234567890"


def test_another_key_or_a_tampered_value_is_refused():
    stored = SecretBox(generate_key()).encrypt("sk-live-1234567890")
    with pytest.raises(UndecryptableSecret):
        SecretBox(generate_key()).decrypt(stored)
    box = SecretBox(generate_key())
    tampered = box.encrypt("secret")[:-4] + "AAAA"
    with pytest.raises(UndecryptableSecret):
        box.decrypt(tampered)


def test_rotation_keeps_old_values_readable_and_writes_with_the_new_key():
    old, new = generate_key(), generate_key()
    stored_before = SecretBox(old).encrypt("before")
    rotated = SecretBox(f"{new},{old}")
    assert rotated.decrypt(stored_before) == "before"
    assert SecretBox(new).decrypt(rotated.encrypt("after")) == "after"


def test_hint_shows_only_the_last_four_characters():
    assert hint("sk-live-1234567890") == "••••7890"
    assert hint("short") == "••••" and hint(None) is None


def test_empty_key_is_a_clear_error():
    with pytest.raises(ValueError, match="ENCRYPTION_KEY"):
        SecretBox(" , ")
