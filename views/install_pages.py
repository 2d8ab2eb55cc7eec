"""HTML pages of the OAuth install: the success page and one failure page per reason.

Pure functions from plain values to an HTML string; every value is HTML-escaped.
"""

from __future__ import annotations

from html import escape

SUCCESS_TITLE = "Mission Control is installed"
SUCCESS_LINKED = (
    "Mission Control is now in the {team} Slack workspace, linked to {account}. Open Slack, find Mission Control "
    "under Apps, and use its Home tab to choose which channels get which notifications."
)
SUCCESS_UNLINKED = (
    "Mission Control is now in the {team} Slack workspace, but it is not linked to a Mission Control account yet, "
    "so it receives no events. Ask a Mission Control admin for an install link, or for a grant to use with "
    "/missioncontrol link &lt;grant&gt; in Slack."
)
FAILURE_TITLE = "Mission Control was not installed"
FAILURE_REASONS = {
    "access_denied": "The installation was cancelled in Slack. Nothing was installed; start again whenever you like.",
    "invalid_browser": (
        "The installation started in a different browser, or its cookie was lost. Start again from the "
        "Mission Control install link, in one browser."
    ),
    "invalid_state": (
        "This installation link was already used or is more than ten minutes old. Start again from the "
        "Mission Control install link."
    ),
    "missing_code": "Slack did not send an authorization code. Start again from the Mission Control install link.",
    "invalid_code": (
        "Slack did not accept the authorization code, which may have expired. Start again from the Mission Control "
        "install link. If this keeps happening, the app's client secret may be wrong: tell your Mission Control admin."
    ),
    "storage_error": "Mission Control could not save the installation. Nothing was installed; please try again later.",
}
FAILURE_DEFAULT = "Slack reported a problem ({reason}). Nothing was installed; start again from the install link."

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}</style>
</head>
<body><h1>{title}</h1><p>{text}</p></body>
</html>
"""


def success_page(*, team_name: str, account: str | None) -> str:
    team = escape(team_name)
    if account is None:
        return _PAGE.format(title=SUCCESS_TITLE, text=SUCCESS_UNLINKED.format(team=team))
    return _PAGE.format(title=SUCCESS_TITLE, text=SUCCESS_LINKED.format(team=team, account=escape(account)))


def failure_page(*, reason: str, detail: str | None = None) -> str:
    """Build the failure page; `detail` (plain text, such as a grant error) replaces the standard sentence."""
    text = escape(detail) if detail else FAILURE_REASONS.get(reason, FAILURE_DEFAULT.format(reason=escape(reason)))
    return _PAGE.format(title=FAILURE_TITLE, text=text)
