"""The super-admin company lists narrowed by `search` (part of the name or e-mail, any case)."""

import uuid

from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import assertion_headers

from .support import signup

ROOT = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)


async def test_search_finds_companies_by_part_of_name_or_email(client, signer):
    a, b = await signup(client, signer), await signup(client, signer)
    tag = a.company["name"].split()[-1]
    r = await client.get("/api/v1/super-admin/company", params={"search": tag.upper()},
                         headers=assertion_headers(signer, ROOT))
    assert r.status_code == 200
    assert [c["id"] for c in r.json()["companies"]] == [a.company["id"]]
    by_mail = await client.get("/api/v1/super-admin/company", params={"search": b.company["email"][:12]},
                               headers=assertion_headers(signer, ROOT))
    assert [c["id"] for c in by_mail.json()["companies"]] == [b.company["id"]]


async def test_search_treats_wildcards_as_text_and_reaches_deleted_companies(client, signer):
    a = await signup(client, signer)
    root = assertion_headers(signer, ROOT)
    r = await client.get("/api/v1/super-admin/company", params={"search": "%_%"}, headers=root)
    assert r.status_code == 200 and r.json()["companies"] == []
    await client.delete(f"/api/v1/company/{a.company['id']}", headers=root)
    tag = a.company["name"].split()[-1]
    deleted = await client.get("/api/v1/company/deleted", params={"search": tag}, headers=root)
    assert [c["id"] for c in deleted.json()["companies"]] == [a.company["id"]]
    too_long = await client.get("/api/v1/super-admin/company", params={"search": "x" * 300}, headers=root)
    assert too_long.status_code in (400, 422)
