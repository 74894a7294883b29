"""The console's signature check agrees with the sender's signing, byte for byte."""

from __future__ import annotations

import hashlib
import hmac

from knowrithm_console.pages.webhook_deliveries import signature_matches

SECRET = "whsec_test-secret"
BODY = '{"id":"01","type":"webhook.test","data":{"message":"Grüße"}}'


def _sign(secret: str, body: str, t: int = 1_700_000_000) -> str:
    """As knowrithm_analytics.webhooks.delivery.sign does it."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body.encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def test_a_signature_is_valid_for_its_body_and_secret_only() -> None:
    header = _sign(SECRET, BODY)
    assert signature_matches(SECRET, BODY, header) is True
    assert signature_matches(SECRET, BODY.replace("Grüße", "Grusse"), header) is False
    assert signature_matches("whsec_other", BODY, header) is False
    assert signature_matches(SECRET, BODY, header.replace("t=1700000000", "t=1700000001")) is False
    # several v1 values (as during a rotation) and spaces after commas are accepted
    assert signature_matches(SECRET, BODY, f"t=1700000000, v1={'0' * 64}, {header.split(',')[1]}") is True


def test_a_header_not_of_the_form_t_v1_is_unreadable() -> None:
    for header in ("", "v1=abc", "t=abc,v1=abc", "t=1,t=2,v1=abc", "sha256=abc"):
        assert signature_matches(SECRET, BODY, header) is None
