"""Replies of `/missioncontrol`: the help, the reply to an unknown subcommand, and the refusal to non-managers."""

from __future__ import annotations

import difflib
from typing import Any, NamedTuple

from views.rule_text import admin_names_text, context_block, header_block, section_block
from views.text import escape_and_truncate

# --- User-facing copy -------------------------------------------------------------------------------

COMMAND = "/missioncontrol"
HELP_TITLE = "Mission Control for Slack"
HELP_INTRO = (
    "Mission Control posts your platform's alerts, notes and daily digests into Slack channels, "
    "following notifications that workspace admins set up."
)


class Subcommand(NamedTuple):
    """One subcommand: what to type, an example, and what it does."""

    name: str
    example: str
    meaning: str


SUBCOMMANDS = (
    Subcommand("rules", "/missioncontrol rules", "lists the notifications of this workspace"),
    Subcommand("rules add", "/missioncontrol rules add", "opens the form to add a notification"),
    Subcommand("status", "/missioncontrol status", "shows the account, failing notifications and the event feed"),
    Subcommand(
        "digest",
        "/missioncontrol digest time 09:30",
        "shows or changes the daily digest: on, off, time HH:MM, tz Area/City, now (a preview for you)",
    ),
    Subcommand(
        "link",
        "/missioncontrol link <grant>",
        "links this workspace to a Mission Control account with a grant from an admin",
    ),
    Subcommand("help", "/missioncontrol help", "shows this message"),
)
HELP_OPERATOR_NOTE = (
    "Operators can also manage rules with `missioncontrol rules add|list|remove` "
    "or a seed file given to `missioncontrol serve --seed FILE`."
)

UNKNOWN_COMMAND = "`/missioncontrol {text}` is not a command."
UNKNOWN_EMPTY = "`/missioncontrol` needs a subcommand."
SUGGESTION = "Did you mean `/missioncontrol {suggestion}`?"
REFUSAL = (
    "Only {names} can change notifications. "
    "Ask one of them, or ask an admin to add you as a manager in the Mission Control App Home."
)

# The user's text is shown back in code, cut to this size.
MAX_ECHOED_TEXT = 100
# Minimum similarity, as difflib's ratio from 0 to 1, for a subcommand to be suggested.
SUGGESTION_CUTOFF = 0.6


def help_message() -> dict[str, Any]:
    """Build the ephemeral help message as `text` and `blocks`."""
    return {"text": f"{HELP_TITLE}: {HELP_INTRO}", "blocks": _help_blocks()}


def _help_blocks() -> list[dict[str, Any]]:
    return [
        header_block(HELP_TITLE),
        section_block(HELP_INTRO),
        section_block("\n".join(_help_line(subcommand) for subcommand in SUBCOMMANDS)),
        context_block(HELP_OPERATOR_NOTE),
    ]


def _help_line(subcommand: Subcommand) -> str:
    # The example is escaped because `<grant>` must show literally instead of being read as a link.
    return f"• `{escape_and_truncate(subcommand.example, 200)}`: {subcommand.meaning}"


def unknown_command_message(text: str, suggestion: str | None) -> dict[str, Any]:
    """Build the reply to a subcommand that does not exist, with a suggestion and the help.

    `text` is what the user typed after the command. It is escaped and shown in code.
    """
    shown = _code_safe(text)
    sentence = UNKNOWN_COMMAND.format(text=shown) if shown else UNKNOWN_EMPTY
    if suggestion:
        sentence += " " + SUGGESTION.format(suggestion=_code_safe(suggestion))
    return {"text": sentence, "blocks": [section_block(sentence), *_help_blocks()]}


def _code_safe(text: str) -> str:
    """Escape text for a code span: one line, no backticks, at most `MAX_ECHOED_TEXT` characters."""
    one_line = " ".join(text.split()).replace("`", "'")
    return escape_and_truncate(one_line, MAX_ECHOED_TEXT)


def refusal_message(admin_names_hint: str) -> dict[str, Any]:
    """Build the reply to someone who may not change notifications, naming who can.

    `admin_names_hint` is `mrkdwn` in which only user mentions such as `<@U1>` are kept.
    """
    sentence = REFUSAL.format(names=admin_names_text(admin_names_hint))
    return {"text": sentence, "blocks": [section_block(sentence)]}


def closest_subcommand(word: str) -> str | None:
    """Return the subcommand closest to `word`, such as "rules" for "rule", or None when none is close."""
    names = [subcommand.name for subcommand in SUBCOMMANDS]
    matches = difflib.get_close_matches(" ".join(word.lower().split()), names, n=1, cutoff=SUGGESTION_CUTOFF)
    return matches[0] if matches else None
