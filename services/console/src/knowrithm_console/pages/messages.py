"""The API's errors as a person reads them: known codes in their language, else the API's text."""

from __future__ import annotations

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _


def _known() -> dict[str, str]:
    # Built per call: each msgid is translated into the current request's language.
    return {
        "invalid_credentials": _("Invalid credentials"),
        "account_locked": _("Too many failed attempts: this account is locked for a while. Try again later."),
        "account_inactive": _("This account is not active. Ask your administrator."),
        "company_inactive": _("Your company's account is not active."),
        "password_reset_required": _("You must choose a new password first: use “Forgot your password?”."),
        "rate_limited": _("Too many attempts from your address. Wait a minute and try again."),
        "invalid_token": _("This link is not valid (any more). Ask for a new one."),
    }


def message_of(error: ApiError) -> str:
    """The text to show for `error`."""
    return _known().get(error.code, error.message)


def field_messages(error: ApiError) -> dict[str, str]:
    """Validation messages by field (the API's own wording: it names the rule broken)."""
    return error.field_errors()
