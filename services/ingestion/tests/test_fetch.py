"""The SSRF guard: private and local addresses are refused before any connection, allowlisted
local sites are fetched, and every redirect hop is checked again. Real HTTP servers on
loopback addresses stand in for the web."""

from __future__ import annotations

import pytest

from knowrithm_ingestion.websites.fetch import FetchFailed, FetchRefused, FetchTooLarge, SafeFetcher

from .sites import Site

REFUSED = [
    "http://127.0.0.1/",
    "http://localhost:8080/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://10.1.2.3/",
    "http://0.0.0.0/",
    "http://2130706433/",  # 127.0.0.1 written as one decimal number
    "http://0x7f.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://100.64.1.1/",
    "http://[fd00::1]/",
    "http://metadata.google.internal/computeMetadata/v1/",
]


@pytest.fixture
async def fetcher():
    f = SafeFetcher(allowlist=["127.0.0.5/32"], timeout=5, max_redirects=3, max_bytes=10_000)
    yield f
    await f.aclose()


@pytest.fixture
def site():
    with Site("127.0.0.5") as s:
        yield s


@pytest.fixture
def internal():
    """A server on 127.0.0.1, which is not allowlisted: nothing may ever reach it."""
    with Site("127.0.0.1") as s:
        s.page("/secret", "internal admin page")
        yield s


@pytest.mark.parametrize("url", REFUSED)
async def test_private_and_local_addresses_are_refused_with_a_readable_reason(fetcher, url):
    with pytest.raises(FetchRefused) as refused:
        await fetcher.fetch(url)
    assert "not allowed" in refused.value.reason
    assert refused.value.code == "url_not_allowed"


async def test_refusal_names_the_address(fetcher):
    with pytest.raises(FetchRefused) as refused:
        await fetcher.fetch("http://2130706433/")
    assert refused.value.reason == (
        "http://2130706433/ points to a private or local address (127.0.0.1); fetching it is not allowed"
    )


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "http://user:pw@example.com/"])
async def test_non_web_urls_and_credentials_are_refused(fetcher, url):
    with pytest.raises(FetchRefused):
        fetcher.check_syntax(url)
    with pytest.raises(FetchRefused):
        await fetcher.fetch(url)


async def test_a_server_on_a_refused_address_receives_no_request(fetcher, internal):
    with pytest.raises(FetchRefused):
        await fetcher.fetch(internal.url("/secret"))
    assert internal.hits["/secret"] == 0


async def test_allowlisted_local_site_is_fetched_with_host_and_user_agent(fetcher, site):
    site.page("/hello", "Hello there", title="Greeting")
    result = await fetcher.fetch(site.url("/hello#top"), accept="text/html")
    assert result.status == 200
    assert b"Hello there" in result.content
    assert result.content_type.startswith("text/html")
    assert result.url == site.url("/hello")
    sent = site.requests[-1]
    assert sent["host"] == f"127.0.0.5:{site.port}"
    assert sent["user-agent"].startswith("KnowrithmBot")
    assert sent["accept"] == "text/html"


async def test_host_port_allowlist_entry_allows_only_that_port(site):
    site.page("/", "ok")
    fetcher = SafeFetcher(allowlist=[f"127.0.0.5:{site.port}"], timeout=5)
    try:
        assert (await fetcher.fetch(site.url("/"))).status == 200
        with pytest.raises(FetchRefused):
            await fetcher.fetch(f"http://127.0.0.5:{site.port + 1}/")
    finally:
        await fetcher.aclose()


async def test_redirect_to_a_private_address_is_refused_and_never_followed(fetcher, site, internal):
    site.redirect("/redirect", internal.url("/secret"))
    with pytest.raises(FetchRefused) as refused:
        await fetcher.fetch(site.url("/redirect"))
    assert refused.value.reason.startswith(internal.url("/secret"))
    assert "127.0.0.1" in refused.value.reason
    assert site.hits["/redirect"] == 1
    assert internal.hits["/secret"] == 0


async def test_redirects_are_followed_and_reported(fetcher, site):
    site.redirect("/a", "/b", status=301).redirect("/b", site.url("/c")).page("/c", "final")
    result = await fetcher.fetch(site.url("/a"))
    assert result.url == site.url("/c")
    assert result.redirects == [site.url("/a"), site.url("/b")]


async def test_too_many_redirects_fail_readably(fetcher, site):
    for i in range(6):
        site.redirect(f"/hop{i}", f"/hop{i + 1}")
    with pytest.raises(FetchFailed) as failed:
        await fetcher.fetch(site.url("/hop0"))
    assert "redirected more than 3 times" in failed.value.reason
    assert site.hits["/hop4"] == 0


@pytest.mark.parametrize("send_length", [True, False])
async def test_body_over_the_size_limit_fails(fetcher, site, send_length):
    site.file("/big", b"x" * 20_000, content_type="text/plain", send_length=send_length)
    with pytest.raises(FetchTooLarge) as failed:
        await fetcher.fetch(site.url("/big"))
    assert "larger than the limit of 10000 bytes" in failed.value.reason


async def test_http_error_fails_with_its_status(fetcher, site):
    with pytest.raises(FetchFailed) as failed:
        await fetcher.fetch(site.url("/missing"))
    assert failed.value.status == 404
    assert "HTTP 404" in failed.value.reason


async def test_public_name_resolving_to_a_private_address_is_refused():
    """DNS rebinding style: the name looks public, the answer is private; no connection is made."""

    async def resolver(host, port):
        return {"public.example": ["93.184.216.34", "10.0.0.7"]}[host]

    fetcher = SafeFetcher(resolver=resolver, timeout=2)
    with pytest.raises(FetchRefused) as refused:
        await fetcher.check("https://public.example/page")
    # refused, without telling the caller what the name resolves to (that would map the network)
    assert "private or local address" in refused.value.reason and "10.0.0.7" not in refused.value.reason


async def test_connection_goes_to_the_validated_address(site):
    """The resolver is asked once; the connection uses its answer, whatever the name is."""
    site.page("/", "pinned")
    answers = []

    async def resolver(host, port):
        answers.append(host)
        return ["127.0.0.5"]

    fetcher = SafeFetcher(allowlist=["127.0.0.5/32"], resolver=resolver, timeout=5)
    try:
        result = await fetcher.fetch(f"http://docs.example.test:{site.port}/")
    finally:
        await fetcher.aclose()
    assert b"pinned" in result.content
    assert answers == ["docs.example.test"]
    assert site.requests[-1]["host"] == f"docs.example.test:{site.port}"


async def test_unknown_host_fails_readably():
    fetcher = SafeFetcher(timeout=5)
    with pytest.raises(FetchFailed) as failed:
        await fetcher.check("http://no-such-host.invalid/")
    assert "could not be found" in failed.value.reason


def _tls_contexts(name: str):
    """A server context with a self-signed certificate for `name`, and a client context trusting it."""
    import datetime as dt
    import ssl
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    with tempfile.NamedTemporaryFile(suffix=".pem") as cf, tempfile.NamedTemporaryFile(suffix=".pem") as kf:
        cf.write(cert_pem), kf.write(key_pem)
        cf.flush(), kf.flush()
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cf.name, kf.name)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


async def test_https_is_pinned_to_the_address_and_verified_against_the_host_name():
    server_ctx, client_ctx = _tls_contexts("secure.example.test")

    async def resolver(host, port):
        return ["127.0.0.5"]

    with Site("127.0.0.5", tls=server_ctx) as secure:
        secure.page("/", "over tls")
        fetcher = SafeFetcher(allowlist=["127.0.0.5/32"], resolver=resolver, timeout=5, ssl_context=client_ctx)
        try:
            result = await fetcher.fetch(f"https://secure.example.test:{secure.port}/")
            assert b"over tls" in result.content
            with pytest.raises(FetchFailed) as failed:  # same address, a name the certificate does not cover
                await fetcher.fetch(f"https://other.example.test:{secure.port}/")
        finally:
            await fetcher.aclose()
    assert "certificate could not be verified" in failed.value.reason
