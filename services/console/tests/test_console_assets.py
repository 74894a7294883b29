"""What ships with the console: the vendored htmx as recorded, a complete German catalogue that
matches the templates and code, and pages that load no script or style from elsewhere."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from knowrithm_console import i18n
from knowrithm_console.web import HERE, STATIC_DIR

SERVICE = HERE.parents[1]
VENDOR = STATIC_DIR / "vendor"


def test_vendored_htmx_is_the_recorded_file() -> None:
    readme = (VENDOR / "README.md").read_text()
    (name, version, digest), = re.findall(r"`(htmx-([\d.]+)\.min\.js)`.*?`([0-9a-f]{64})`", readme)
    data = (VENDOR / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == digest
    assert f"htmx-{version}.min.js" in (HERE / "templates" / "base.html").read_text()
    assert (VENDOR / "LICENSE.htmx").read_text().startswith("Zero-Clause BSD")


def test_templates_load_only_the_consoles_own_scripts_and_styles() -> None:
    for template in (HERE / "templates").glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name  # no inline script
        assert " style=" not in text and "<style" not in text, template.name
        assert not re.search(r'\son[a-z]+=', text), template.name  # no inline event handlers
        assert "http://" not in text and "https://" not in text, template.name  # no CDN


def test_the_catalogue_template_is_current_and_german_translates_every_message(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(SERVICE / "babel.cfg"),
         "-k", "N_", "--no-wrap", "-o", str(pot), "src"],
        cwd=SERVICE, check=True, capture_output=True,
    )
    with pot.open("rb") as fresh, (i18n.LOCALE_DIR / "messages.pot").open("rb") as committed:
        fresh_ids = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fresh) if m.id}
        committed_ids = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(committed) if m.id}
    assert fresh_ids == committed_ids, "run the extract and update commands of docs/console.md"
    with (i18n.LOCALE_DIR / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        german = read_po(handle, locale="de")
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in german if m.id}
    assert ids == committed_ids
    for message in german:
        if message.id:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings) and not message.fuzzy, message.id


def test_language_comes_from_the_browser_by_preference_and_formats_follow_locale_and_zone() -> None:
    assert i18n.negotiate("fr-CH, fr;q=0.9, de;q=0.8, en;q=0.5") == "de"
    assert i18n.negotiate("en-GB,de;q=0.9") == "en"
    assert i18n.negotiate("de;q=0, en;q=0.1") == "en"
    assert i18n.negotiate("ja, *") is None
    german = i18n.Localization("de", "Europe/Berlin")
    assert german.number(1234567.5) == "1.234.567,5"
    assert german.datetime("2026-12-07T19:00:00+00:00") == "07.12.2026, 20:00:00"
    assert german.gettext("Sign in") == "Anmelden"
    english = i18n.Localization("en", "America/New_York")
    assert english.datetime("2026-12-07T19:00:00+00:00") == "Dec 7, 2026, 2:00:00\u202fPM"
    assert i18n.Localization("xx", "Not/AZone").language == "en"  # unknown values fall back
