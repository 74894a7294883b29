"""Translations (gettext catalogues kept as .po files, compiled when the app starts) and formats.

The language of a request: the one chosen with the language switcher (kept in the session),
else the signed-in user's profile language, else the browser's Accept-Language, else English.
Dates and times are shown in the user's time zone (their profile's; UTC when signed out).
"""

from __future__ import annotations

import datetime as dt
import io
from contextvars import ContextVar
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"
NONE = "\u2013"  # an en dash stands for "no value"
# Each language with the name it is offered under (in that language, so anyone can find theirs).
LANGUAGES: dict[str, str] = {"en": "English", "de": "Deutsch"}


def load_catalogues() -> dict[str, NullTranslations]:
    """Every language's catalogue, compiled in memory from its .po file (English needs none)."""
    found: dict[str, NullTranslations] = {DEFAULT: NullTranslations()}
    for code in LANGUAGES:
        po = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
        if code == DEFAULT or not po.exists():
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=code, domain=DOMAIN)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        found[code] = Translations(buffer, domain=DOMAIN)
    return found


CATALOGUES = load_catalogues()


class Localization:
    """A request's language and time zone, with the functions templates format with."""

    def __init__(self, language: str, timezone: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT
        self.locale = Locale.parse(self.language)
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self.zone = ZoneInfo("UTC")
        self.translations = CATALOGUES.get(self.language, CATALOGUES[DEFAULT])

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def number(self, value: float | int | None) -> str:
        return NONE if value is None else format_decimal(value, locale=self.locale)

    def datetime(self, value: dt.datetime | str | None, *, format: str = "medium") -> str:
        if value is None:
            return NONE
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return format_datetime(value, format=format, tzinfo=self.zone, locale=self.locale)


_ENGLISH = Localization(DEFAULT, "UTC")
current: ContextVar[Localization] = ContextVar("knowrithm_console_localization", default=_ENGLISH)


def gettext(message: str) -> str:
    """Translate `message` into the current request's language."""
    return current.get().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return current.get().ngettext(singular, plural, n)


def negotiate(accept_language: str | None) -> str | None:
    """The first supported language of an Accept-Language header, by its q-values."""
    if not accept_language:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag, quality = pieces[0].strip(), 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, tag))
    for negative_quality, _position, tag in sorted(ranked):
        if negative_quality >= 0 or not tag or tag == "*":
            continue
        try:
            language = Locale.parse(tag.replace("-", "_")).language
        except (UnknownLocaleError, ValueError):
            continue
        if language in LANGUAGES:
            return language
    return None
