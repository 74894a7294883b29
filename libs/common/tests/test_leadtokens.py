"""Lead tokens: what conversations mints is what the gateway accepts, and nothing else is."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from knowrithm_common.leadtokens import (
    LEAD_TOKEN_HEADER_TYPE,
    InvalidLeadToken,
    LeadTokenExpired,
    LeadTokenSigner,
    LeadTokenVerifier,
    is_lead_token,
)


def _pair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


PRIVATE, PUBLIC = _pair()
OTHER_PRIVATE, _ = _pair()


def _mint(private_pem: str = PRIVATE, **kwargs: object) -> str:
    token, _ = LeadTokenSigner(private_pem, **kwargs).mint(  # type: ignore[arg-type]
        lead_id=uuid.uuid4(), company_id=uuid.uuid4(), agent_id=uuid.uuid4()
    )
    return token


def test_minted_token_verifies_to_the_same_claims() -> None:
    lead, company, agent, conversation = (uuid.uuid4() for _ in range(4))
    token, minted = LeadTokenSigner(PRIVATE).mint(
        lead_id=lead, company_id=company, agent_id=agent, conversation_id=conversation
    )
    claims = LeadTokenVerifier(PUBLIC).verify(token)
    assert claims == minted
    assert (claims.lead_id, claims.company_id, claims.agent_id) == (lead, company, agent)
    assert claims.conversation_id == conversation and claims.typ == "lead"
    assert claims.exp - claims.iat == 7 * 24 * 3600
    assert jwt.get_unverified_header(token)["typ"] == LEAD_TOKEN_HEADER_TYPE
    assert is_lead_token(token)


def test_token_without_conversation_verifies_and_each_token_has_its_own_jti() -> None:
    signer = LeadTokenSigner(PRIVATE, ttl_seconds=60)
    ids = {"lead_id": uuid.uuid4(), "company_id": uuid.uuid4(), "agent_id": uuid.uuid4()}
    first, _ = signer.mint(**ids)
    second, _ = signer.mint(**ids)
    verifier = LeadTokenVerifier(PUBLIC)
    assert verifier.verify(first).conversation_id is None
    assert verifier.verify(first).jti != verifier.verify(second).jti


def test_expired_token_is_refused_as_token_expired() -> None:
    token = _mint(ttl_seconds=-60)  # expired a minute ago, beyond the clock-skew leeway
    with pytest.raises(LeadTokenExpired) as refused:
        LeadTokenVerifier(PUBLIC).verify(token)
    assert refused.value.status_code == 401 and refused.value.code == "token_expired"


def test_tampered_token_is_refused_as_invalid() -> None:
    header, payload, signature = _mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["company_id"] = str(uuid.uuid4())  # a lead trying to reach another company
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidLeadToken) as refused:
        LeadTokenVerifier(PUBLIC).verify(f"{header}.{forged}.{signature}")
    assert refused.value.status_code == 401 and refused.value.code == "invalid_token"


def test_token_signed_with_another_key_is_refused_as_invalid() -> None:
    with pytest.raises(InvalidLeadToken):
        LeadTokenVerifier(PUBLIC).verify(_mint(OTHER_PRIVATE))


def test_access_token_is_not_a_lead_token() -> None:
    now = int(time.time())
    key = Ed25519PrivateKey.generate()
    access = jwt.encode(
        {"sub": str(uuid.uuid4()), "typ": "access", "iat": now, "exp": now + 60}, key, algorithm="EdDSA"
    )
    assert not is_lead_token(access)
    assert not is_lead_token("not.a.jwt") and not is_lead_token("")
    with pytest.raises(InvalidLeadToken, match="Not a chat session"):
        LeadTokenVerifier(PUBLIC).verify(access)


def test_lead_header_over_other_claims_is_refused() -> None:
    """A token saying `lead+jwt` in its header, signed by the right key, with other claims."""
    now = int(time.time())
    key = load_pem_private_key(PRIVATE.encode(), password=None)
    token = jwt.encode(
        {"iss": "knowrithm-conversations", "aud": "knowrithm-api", "sub": str(uuid.uuid4()),
         "jti": "j", "iat": now, "exp": now + 60, "typ": "access"},
        key, algorithm="EdDSA", headers={"typ": LEAD_TOKEN_HEADER_TYPE},
    )
    with pytest.raises(InvalidLeadToken):
        LeadTokenVerifier(PUBLIC).verify(token)


def test_unreadable_public_key_is_refused_when_the_verifier_is_built() -> None:
    with pytest.raises(ValueError, match="KNOWRITHM_LEAD_TOKEN_PUBLIC_KEY must be an Ed25519 public key"):
        LeadTokenVerifier("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ValueError, match="Ed25519 public key"):
        LeadTokenVerifier(PRIVATE)  # the private key where the public one belongs
