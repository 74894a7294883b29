"""Company logos uploaded as image files: sign-up and updates as multipart, served publicly."""

import uuid

from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import assertion_headers

from .support import signup

ROOT = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)


def _form(tag: str) -> dict[str, str]:
    return {"name": f"Logo Co {tag}", "email": f"logo-{tag}@example.com"}


async def _logo_of(client, signer, logo_url: str):
    path = logo_url.split("://", 1)[1].split("/", 1)[1]
    return await client.get("/" + path, headers=assertion_headers(signer))


async def test_sign_up_with_a_logo_file_serves_it_at_the_companys_logo_url(client, signer):
    tag = uuid.uuid4().hex[:8]
    r = await client.post("/api/v1/company", data=_form(tag), files={"logo": ("logo.png", PNG, "image/png")},
                          headers=assertion_headers(signer))
    assert r.status_code == 201, r.text
    company = r.json()
    assert company["logo"].startswith("http://")
    assert f"/api/v1/company/{company['id']}/logo?v=" in company["logo"]
    served = await _logo_of(client, signer, company["logo"])
    assert served.status_code == 200
    assert served.content == PNG and served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"


async def test_logo_type_is_read_from_the_bytes_and_svg_or_text_returns_415(client, signer):
    anon = assertion_headers(signer)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for content, claimed in ((svg, "image/svg+xml"), (b"hello", "image/png")):
        tag = uuid.uuid4().hex[:8]
        r = await client.post("/api/v1/company", data=_form(tag), files={"logo": ("x.png", content, claimed)},
                              headers=anon)
        assert r.status_code == 415 and r.json()["error"] == "unsupported_logo_type"
    tag = uuid.uuid4().hex[:8]
    r = await client.post("/api/v1/company", data=_form(tag), files={"logo": ("x.png", b"", "image/png")},
                          headers=anon)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "logo"]


async def test_oversized_logo_returns_413_and_creates_no_company(client, signer):
    tag = uuid.uuid4().hex[:8]
    big = PNG + bytes(client.app.state.settings.max_logo_bytes)
    r = await client.post("/api/v1/company", data=_form(tag), files={"logo": ("big.png", big, "image/png")},
                          headers=assertion_headers(signer))
    assert r.status_code == 413 and r.json()["error"] == "logo_too_large"
    r = await client.post("/api/v1/company", json=_form(tag), headers=assertion_headers(signer))
    assert r.status_code == 201  # the e-mail was not taken by a half-made company


async def test_other_file_fields_return_415(client, signer):
    tag = uuid.uuid4().hex[:8]
    r = await client.post("/api/v1/company", data=_form(tag), files={"banner": ("b.png", PNG, "image/png")},
                          headers=assertion_headers(signer))
    assert r.status_code == 415


async def test_put_as_multipart_replaces_the_logo_and_a_url_or_clearing_deletes_it(client, signer):
    a = await signup(client, signer)
    path, headers = f"/api/v1/company/{a.company['id']}", assertion_headers(signer, a.principal())
    form = {"name": a.company["name"], "email": a.company["email"]}
    r = await client.put(path, data=form, files={"logo": ("a.png", PNG, "image/png")}, headers=headers)
    assert r.status_code == 200, r.text
    first = r.json()["logo"]
    r = await client.patch(path, files={"logo": ("b.jpg", JPEG, "image/jpeg")}, headers=headers)
    assert r.status_code == 200 and r.json()["logo"] != first
    served = await _logo_of(client, signer, r.json()["logo"])
    assert served.content == JPEG and served.headers["content-type"] == "image/jpeg"
    r = await client.patch(path, json={"logo": "https://cdn.example.com/acme.png"}, headers=headers)
    assert r.status_code == 200 and r.json()["logo"] == "https://cdn.example.com/acme.png"
    assert (await _logo_of(client, signer, first)).status_code == 404


async def test_logo_upload_needs_the_companys_admin(client, signer):
    a, b = await signup(client, signer), await signup(client, signer)
    path = f"/api/v1/company/{a.company['id']}"
    r = await client.patch(path, files={"logo": ("a.png", PNG, "image/png")},
                           headers=assertion_headers(signer, b.principal()))
    assert r.status_code == 404
    r = await client.get(f"{path}/logo", headers=assertion_headers(signer))
    assert r.status_code == 404 and r.json()["error"] == "logo_not_found"


async def test_deleted_companys_logo_returns_404(client, signer):
    a = await signup(client, signer)
    path = f"/api/v1/company/{a.company['id']}"
    r = await client.patch(path, files={"logo": ("a.png", PNG, "image/png")},
                           headers=assertion_headers(signer, a.principal()))
    assert r.status_code == 200
    assert (await client.get(f"{path}/logo", headers=assertion_headers(signer))).status_code == 200
    assert (await client.delete(path, headers=assertion_headers(signer, ROOT))).status_code == 200
    assert (await client.get(f"{path}/logo", headers=assertion_headers(signer))).status_code == 404
