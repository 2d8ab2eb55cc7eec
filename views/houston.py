"""Slack messages for Houston: answers, the error message with a Retry button, and short notices.

The model writes standard Markdown, which goes into a `markdown` block. Before that, the answer is made safe
and made to fit:

- Tables become fenced code blocks with aligned columns, because code keeps the columns readable everywhere.
- A link is kept only when its URL is one that a tool returned (`allowed_urls`, compared exactly). Any other
  `[label](url)` or `<url|label>` becomes its label, and any other bare URL becomes "(link removed)".
- Every `<` gets a zero-width space after it, so no Slack control sequence (`<!channel>`, `<@U123>`,
  `<#C123>`, `<!subteam^S1>`, `<https://…>`) survives. The same goes for the `&` of `&lt;` and the `@` of
  `@here`. Escaping as `&lt;` was not chosen, because Markdown shows entities literally inside code spans and
  fences, and Slack does not document whether its `markdown` block decodes them anywhere else. A zero-width
  space renders as nothing in prose and code alike, but text copied from the answer keeps it.
- The answer is cut at a word boundary to fit Slack's 12,000 characters of `markdown` blocks per message and
  this project's 12,000-character budget for all block text, with an ellipsis and "(answer shortened)".

The notification `text` is the same answer as plain text: Markdown markers removed, then escaped for Slack's
`mrkdwn` (the documented way, because `text` is `mrkdwn`), then cut to 4,000 characters.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from views.limits import MAX_BUTTON_VALUE, MAX_FALLBACK_TEXT, MAX_MESSAGE_TOTAL_TEXT, MAX_SECTION_TEXT
from views.messages import SlackMessage
from views.text import ELLIPSIS, escape_and_truncate, escape_mrkdwn, slack_date, truncate

# --- User-facing copy -------------------------------------------------------------------------------

EMPTY_ANSWER = "Houston returned an empty answer. Try asking again in other words."
ANSWER_SHORTENED = "*(answer shortened)*"
REMOVED_LINK = "(link removed)"
WORD_CUT_ELLIPSIS = " " + ELLIPSIS
TABLE_LINKS_LABEL = "Links in the table:"

FOOTER_SEPARATOR = " · "
FOOTER_CLIENT = "Client: {client}"
FOOTER_DATES = "Dates: {dates}"
FOOTER_DATA_AS_OF = "Data as of {when}"
FOOTER_TOOLS = "Tools: {tools}"
MONTH_ABBREVIATIONS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

FEEDBACK_UP_LABEL = "👍 Helpful"
FEEDBACK_DOWN_LABEL = "👎 Not helpful"

ERROR_TEXT = (
    ":warning: Sorry, Houston could not finish this answer. Please try again. If it keeps failing, "
    "give support this request ID: `{request_id}`"
)
ERROR_FALLBACK = "Sorry, Houston could not finish this answer. Request ID for support: {request_id}"
RETRY_LABEL = "Retry"


class NoticeKind(enum.Enum):
    """A short notice that Houston posts instead of an answer."""

    DISABLED = "disabled"
    NO_MODEL = "no_model"
    SHARED_CHANNEL = "shared_channel"
    RATE_LIMITED = "rate_limited"
    AMBIGUOUS_CLIENT = "ambiguous_client"
    CLIENT_LOCKED = "client_locked"
    ALREADY_ANSWERING = "already_answering"
    ALREADY_ANSWERED = "already_answered"
    CANCELLED = "cancelled"


# Each notice is `mrkdwn`. Placeholders are filled with escaped values by `build_notice`.
NOTICE_TEXTS: dict[NoticeKind, str] = {
    NoticeKind.DISABLED: "Houston is off in this workspace. A manager can turn it on in the Mission Control App Home.",
    NoticeKind.NO_MODEL: (
        "Houston has no AI model configured, so it cannot answer. The operator of Mission Control sets "
        "`OPENAI_API_KEY` (and `OPENAI_BASE_URL` and `HOUSTON_MODEL` for another OpenAI-compatible server or "
        "model), then restarts Mission Control."
    ),
    NoticeKind.SHARED_CHANNEL: (
        "Sorry, Houston does not answer here: this channel is shared with another organisation, and client "
        "data could reach people outside your workspace. Please ask in a channel of your own workspace or in a "
        "direct message to Mission Control."
    ),
    NoticeKind.RATE_LIMITED: "Houston has reached its limit of questions for now. Please ask again after {retry_at}.",
    NoticeKind.AMBIGUOUS_CLIENT: (
        "Which client do you mean: {names}? Reply in this thread with `--client &lt;client id&gt;` "
        "or with the client's name."
    ),
    NoticeKind.CLIENT_LOCKED: (
        "This workspace belongs to one client, so Houston answers only about that client here and cannot "
        "switch to another."
    ),
    NoticeKind.ALREADY_ANSWERING: (
        "Houston is still working on an answer in this thread. Please wait for it before asking again."
    ),
    NoticeKind.ALREADY_ANSWERED: (
        "Houston has already analysed this alert in its thread. Reply there to ask a follow-up question."
    ),
    NoticeKind.CANCELLED: "Houston stopped this answer. Ask again to start over.",
}
NAMES_OTHERS = "{count} others"

# --- Interaction ids --------------------------------------------------------------------------------

# The value of each of these buttons is the Houston thread id.
FEEDBACK_BLOCK_ID = "houston_feedback"
FEEDBACK_UP_ACTION_ID = "houston_feedback_up"
FEEDBACK_DOWN_ACTION_ID = "houston_feedback_down"
ERROR_BLOCK_ID = "houston_error"
RETRY_ACTION_ID = "houston_retry"

# --- Sizes ------------------------------------------------------------------------------------------

# Slack's `markdown` block reference: at most 12,000 characters over all markdown blocks of one payload.
MAX_MARKDOWN_TEXT = 12_000
# The answer is cut to this many characters before any processing, so that a runaway model output cannot
# make the regular expressions below slow. Far more than fits one message.
MAX_SOURCE_TEXT = 100_000
MAX_CLIENT_LABEL = 200
MAX_TOOLS_TEXT = 500
MAX_REQUEST_ID = 200
MAX_NOTICE_NAME = 100
MAX_NOTICE_NAMES = 10
# A cut at the last whitespace is used unless it would drop more than this part of the room.
MIN_WORD_CUT_SHARE = 0.5

# --- Markdown syntax --------------------------------------------------------------------------------

ZERO_WIDTH_SPACE = "\u200b"
CODE_FENCE = "```"

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<rest>.*)$")
# A table's separator row after `str.strip()`, such as `|:---|---:|`. Its spaces are matched only inside
# cells, so that the pattern cannot backtrack badly on long lines.
_TABLE_SEPARATOR = re.compile(r"\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?")
_CELL_DIVIDER = re.compile(r"(?<!\\)\|")

# `[label](url)`, `![alt](url)`, `[label](<url>)` and `[label](url "title")`. The label contains no brackets,
# so nested links are resolved from the innermost out by repeating the substitution.
_MARKDOWN_LINK = re.compile(
    r"(?P<image>!?)\[(?P<label>[^\[\]\n]*)\]\([ \t]*"
    r"(?:<(?P<angled>[^<>\n]*)>|(?P<url>[^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*))"
    r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*\)"
)
_MAX_LINK_NESTING = 8
# Slack's own link syntax and CommonMark's autolinks: `<https://x|label>` and `<https://x>`.
_ANGLE_LINK = re.compile(r"<(?P<url>(?:[A-Za-z][A-Za-z0-9+.\-]{0,31}://|mailto:)[^\s<>|]+)(?:\|(?P<label>[^<>\n]*))?>")
# Any URL with a scheme (`https://`, `ftp://`, …) or starting with `www.`, up to whitespace or `<`. A match may
# start inside a word, so that `xhttps://…` loses its URL too, and the scheme is bounded to keep the scan
# linear.
# NOTE: A domain without a scheme or `www.`, such as `example.com/x`, is not treated as a URL, although Slack
# may link it.
_BARE_URL = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]{0,31}://|www\.)[^\s<>]*")
_URL_TRAILING = ".,;:!?)]}'\"*_~`"
_UNSAFE_IN_URL = re.compile(r"[\s<>]")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")

# An entity that Markdown may decode into `<` or `>`, such as `&lt;` or `&#60;`.
_ANGLE_ENTITY = re.compile(r"&(?=(?:lt|gt|#0*6[02]|#x0*3[ce]);)", re.IGNORECASE)
_BARE_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_CONTROL_START = re.compile(r"<(?!\u200b)")

_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+|$)")
_HEADING_CLOSE = re.compile(r"[ \t]+#+[ \t]*$")
_BLOCKQUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+")
_THEMATIC_BREAK = re.compile(r"^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_STAR_EMPHASIS = re.compile(r"(?<![\w*])\*([^\s*](?:[^*\n]*[^\s*])?)\*(?![\w*])")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<![\w_])_([^\s_](?:[^_\n]*[^\s_])?)_(?![\w_])")
_DOUBLE_MARKERS = ("**", "__", "~~")
_BLANK_RUN = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class AnswerFooter:
    """The sources of an answer, shown under it: client, date window, data timestamp and tools used.

    Parts that are None or empty are left out.
    """

    client_label: str | None = None
    date_window: tuple[date, date] | None = None
    data_as_of: datetime | None = None
    tools_used: list[str] = field(default_factory=list)


# --- Answers ----------------------------------------------------------------------------------------


def build_answer_message(
    *, markdown: str, allowed_urls: Collection[str], footer: AnswerFooter, thread_id: str
) -> SlackMessage:
    """Build Houston's answer: the Markdown body, a footer and the 👍/👎 feedback buttons.

    Raises:
        ValueError: `thread_id` is empty or longer than a button value (2,000 characters), the date window
            ends before it starts, or `footer.data_as_of` is naive.
    """
    _check_button_value(thread_id, "thread_id")
    footer_text = _footer_text(footer)
    feedback = _feedback_actions(thread_id)

    source = markdown[:MAX_SOURCE_TEXT]
    prepared = _prepare_markdown(source, frozenset(allowed_urls))
    body = _neutralise_mentions(prepared)
    if not body.replace(ZERO_WIDTH_SPACE, "").strip():
        body = EMPTY_ANSWER

    # The body gets what remains of the message's text budget after the footer and the button labels.
    used_elsewhere = len(footer_text or "") + len(FEEDBACK_UP_LABEL) + len(FEEDBACK_DOWN_LABEL)
    room = min(MAX_MARKDOWN_TEXT, MAX_MESSAGE_TOTAL_TEXT - used_elsewhere)
    body = _fit_markdown(body, room, source_cut=len(markdown) > MAX_SOURCE_TEXT)

    blocks: list[dict[str, Any]] = [{"type": "markdown", "text": body}]
    if footer_text:
        blocks.append({"type": "context", "elements": [_mrkdwn(footer_text)]})
    blocks.append(feedback)
    return SlackMessage(text=_answer_fallback(prepared), blocks=blocks)


def sanitize_answer_markdown(markdown: str, *, allowed_urls: Collection[str]) -> str:
    """Apply the table, link and mention rules of `build_answer_message` to Markdown, without cutting it.

    Suits text streamed with `markdown_text`. Each call processes only its own text, so a link or table split
    between two chunks is not recognised, and its URL is removed unless the part in this chunk is allowed.
    """
    return _neutralise_mentions(_prepare_markdown(markdown[:MAX_SOURCE_TEXT], frozenset(allowed_urls)))


def _prepare_markdown(markdown: str, allowed_urls: frozenset[str]) -> str:
    text = _CONTROL_CHARS.sub("", markdown.replace("\r\n", "\n").replace("\r", "\n"))
    text = _tables_to_code_blocks(text, allowed_urls)
    return _LinkFilter(allowed_urls).apply(text)


def _neutralise_mentions(text: str) -> str:
    """Insert a zero-width space after every `<`, after `&` of `&lt;`-like entities and after `@` of `@here`.

    Slack starts a control sequence only where `<` is directly followed by `!`, `@`, `#` or a URL, so the
    inserted space makes each one literal text. The function is idempotent.
    """
    text = _CONTROL_START.sub("<" + ZERO_WIDTH_SPACE, text)
    text = _ANGLE_ENTITY.sub("&" + ZERO_WIDTH_SPACE, text)
    return _neutralise_broadcasts(text)


def _neutralise_broadcasts(text: str) -> str:
    """Insert a zero-width space after the `@` of `@channel`, `@here` and `@everyone`.

    Slack turns these into broadcasts only in messages sent with `link_names` or `parse=full`, and the
    space keeps them literal even then. Escaped `mrkdwn` needs only this step.
    """
    return _BARE_BROADCAST.sub("@" + ZERO_WIDTH_SPACE, text)


def _check_button_value(value: str, name: str) -> None:
    if not value:
        raise ValueError(f"Invalid {name}: it is empty, and a button value needs at least 1 character")
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError(
            f"Invalid {name} of {len(value)} characters: a button value is at most {MAX_BUTTON_VALUE} characters"
        )


def _feedback_actions(thread_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": FEEDBACK_BLOCK_ID,
        "elements": [
            _button(FEEDBACK_UP_LABEL, FEEDBACK_UP_ACTION_ID, thread_id),
            _button(FEEDBACK_DOWN_LABEL, FEEDBACK_DOWN_ACTION_ID, thread_id),
        ],
    }


# --- Answer footer ----------------------------------------------------------------------------------


def _footer_text(footer: AnswerFooter) -> str | None:
    parts: list[str] = []
    client = " ".join((footer.client_label or "").split())
    if client:
        parts.append(FOOTER_CLIENT.format(client=_neutralise_broadcasts(escape_and_truncate(client, MAX_CLIENT_LABEL))))
    if footer.date_window is not None:
        reference_year = footer.data_as_of.year if footer.data_as_of is not None else None
        parts.append(FOOTER_DATES.format(dates=_format_date_window(*footer.date_window, reference_year)))
    if footer.data_as_of is not None:
        parts.append(FOOTER_DATA_AS_OF.format(when=slack_date(footer.data_as_of)))
    tools = [" ".join(name.split()) for name in dict.fromkeys(footer.tools_used)]
    tools = [name for name in tools if name]
    if tools:
        tools_text = _neutralise_broadcasts(escape_and_truncate(", ".join(tools), MAX_TOOLS_TEXT))
        parts.append(FOOTER_TOOLS.format(tools=tools_text))
    return FOOTER_SEPARATOR.join(parts) or None


def _format_date_window(start: date, end: date, reference_year: int | None) -> str:
    """Format a date window such as "1–7 Dec" or "28 Nov – 4 Dec".

    The year is shown unless both dates fall in `reference_year`, the year of the data's timestamp.
    """
    if end < start:
        raise ValueError(f"Invalid date window {start.isoformat()} to {end.isoformat()}: it ends before it starts")
    show_year = not (start.year == end.year == reference_year)
    year = f" {end.year}" if show_year else ""
    if start == end:
        return f"{_day_month(end)}{year}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{_day_month(end)}{year}"
    if start.year == end.year:
        return f"{_day_month(start)} – {_day_month(end)}{year}"
    return f"{_day_month(start)} {start.year} – {_day_month(end)} {end.year}"


def _day_month(day: date) -> str:
    return f"{day.day} {MONTH_ABBREVIATIONS[day.month - 1]}"


# --- Errors and notices -----------------------------------------------------------------------------


def build_error_message(*, request_id: str, thread_id: str) -> SlackMessage:
    """Build the apology for a failed or timed-out answer, with the request id and a Retry button.

    Raises:
        ValueError: `thread_id` is empty or longer than a button value (2,000 characters).
    """
    _check_button_value(thread_id, "thread_id")
    request_id_text = " ".join(request_id.replace("`", "'").split())
    text = ERROR_TEXT.format(request_id=escape_and_truncate(request_id_text, MAX_REQUEST_ID))
    actions = {
        "type": "actions",
        "block_id": ERROR_BLOCK_ID,
        "elements": [_button(RETRY_LABEL, RETRY_ACTION_ID, thread_id)],
    }
    fallback = escape_and_truncate(ERROR_FALLBACK.format(request_id=request_id_text), MAX_FALLBACK_TEXT)
    return SlackMessage(text=fallback, blocks=[_section(text), actions])


# The values that each notice needs, with their types. Notices not listed take none.
_NOTICE_VALUES: dict[NoticeKind, dict[str, type | tuple[type, ...]]] = {
    NoticeKind.RATE_LIMITED: {"retry_at": datetime},
    NoticeKind.AMBIGUOUS_CLIENT: {"names": (list, tuple)},
}


def build_notice(kind: NoticeKind, **values: Any) -> SlackMessage:
    """Build a one-block notice.

    `RATE_LIMITED` takes `retry_at`, an aware datetime shown in each reader's time zone.
    `AMBIGUOUS_CLIENT` takes `names`, the candidate clients' names; at most 10 are listed.

    Raises:
        TypeError: a value is missing, unexpected or of the wrong type.
        ValueError: `names` is empty, or `retry_at` is naive.
    """
    _check_notice_values(kind, values)
    template = NOTICE_TEXTS[kind]
    if kind is NoticeKind.RATE_LIMITED:
        text = template.format(retry_at=slack_date(values["retry_at"]))
    elif kind is NoticeKind.AMBIGUOUS_CLIENT:
        text = template.format(names=_list_names(values["names"]))
    else:
        text = template
    text = truncate(text, MAX_SECTION_TEXT)
    return SlackMessage(text=truncate(text.replace("`", ""), MAX_FALLBACK_TEXT), blocks=[_section(text)])


def _check_notice_values(kind: NoticeKind, values: dict[str, Any]) -> None:
    expected = _NOTICE_VALUES.get(kind, {})
    missing = sorted(expected.keys() - values.keys())
    unexpected = sorted(values.keys() - expected.keys())
    if missing or unexpected:
        raise TypeError(
            f"Invalid values for notice {kind.name}: expected {sorted(expected) or 'none'}, "
            f"missing {missing or 'none'}, unexpected {unexpected or 'none'}"
        )
    for name, value_type in expected.items():
        if not isinstance(values[name], value_type):
            types = value_type if isinstance(value_type, tuple) else (value_type,)
            expected_names = " or ".join(item.__name__ for item in types)
            raise TypeError(
                f"Invalid {name} for notice {kind.name}: expected {expected_names}, got {type(values[name]).__name__}"
            )
    if kind is NoticeKind.AMBIGUOUS_CLIENT:
        names = values["names"]
        if not names:
            raise ValueError("Invalid names for notice AMBIGUOUS_CLIENT: the list is empty, pass at least one name")
        if not all(isinstance(name, str) for name in names):
            raise TypeError("Invalid names for notice AMBIGUOUS_CLIENT: every name must be a str")


def _list_names(names: Sequence[str]) -> str:
    """Join names as "A, B or C", escaped, each on one line and cut, listing at most 10."""
    listed = [
        _neutralise_broadcasts(escape_and_truncate(" ".join(name.split()) or "?", MAX_NOTICE_NAME))
        for name in names[:MAX_NOTICE_NAMES]
    ]
    unlisted_count = len(names) - len(listed)
    if unlisted_count:
        listed.append(NAMES_OTHERS.format(count=unlisted_count))
    if len(listed) == 1:
        return listed[0]
    return f"{', '.join(listed[:-1])} or {listed[-1]}"


# --- Block Kit pieces -------------------------------------------------------------------------------


def _mrkdwn(text: str) -> dict[str, Any]:
    # `verbatim` stops Slack from turning plain channel names and URLs into links.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _button(label: str, action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
    }


# --- Fitting the answer into the message ------------------------------------------------------------


def _fit_markdown(text: str, limit: int, *, source_cut: bool) -> str:
    """Return `text`, or when it is longer than `limit` (or was cut before), its start with an ellipsis,
    a closing fence when the cut fell inside a code block, and "(answer shortened)"."""
    if len(text) <= limit and not source_cut:
        return text
    note = "\n\n" + ANSWER_SHORTENED
    closing_fence_room = len("\n") + len(CODE_FENCE) + 1
    # One more character for the zero-width space that a `<` at the cut may need again.
    room = limit - len(note) - closing_fence_room - 1
    head = _cut_at_word(text, room)
    open_fence = _open_fence_at_end(head)
    if open_fence is not None:
        head += "\n" + open_fence
    return _neutralise_mentions(head + note)


def _cut_at_word(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters ending with an ellipsis, preferably at whitespace.

    URLs and link targets contain no whitespace, so a cut at whitespace never leaves part of a URL. The
    ellipsis then follows a space, so that no autolinker takes it as part of a URL before it. When the only
    cut is inside a word, a last word that contains a URL is dropped.
    """
    end = limit - len(WORD_CUT_ELLIPSIS)
    if len(text) <= end:
        return text + WORD_CUT_ELLIPSIS
    head = text[:end]
    last_space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    if last_space >= end * MIN_WORD_CUT_SHARE:
        return head[:last_space].rstrip() + WORD_CUT_ELLIPSIS
    cut = truncate(text, limit)
    word_start = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t")) + 1
    last_word = cut[word_start:]
    if "://" in last_word or "www." in last_word:
        return cut[:word_start].rstrip() + WORD_CUT_ELLIPSIS
    return cut


def _open_fence_at_end(text: str) -> str | None:
    """Return the fence of the code block that is still open at the end of `text`, or None."""
    fence: str | None = None
    for line in text.split("\n"):
        fence = _next_fence(line, fence)
    return fence


def _next_fence(line: str, open_fence: str | None) -> str | None:
    """Return the fence that is open after `line`, given the fence open before it."""
    match = _FENCE.match(line)
    if open_fence is None:
        if match is None:
            return None
        # A backtick fence's info string cannot contain a backtick (CommonMark), else it is inline code.
        if match["fence"][0] == "`" and "`" in match["rest"]:
            return None
        return match["fence"]
    closes = (
        match is not None
        and match["fence"][0] == open_fence[0]
        and len(match["fence"]) >= len(open_fence)
        and not match["rest"].strip()
    )
    return None if closes else open_fence


# --- Tables -----------------------------------------------------------------------------------------


def _tables_to_code_blocks(text: str, allowed_urls: frozenset[str]) -> str:
    """Replace each Markdown table outside code blocks with a fenced code block of aligned columns."""
    lines = text.split("\n")
    output: list[str] = []
    fence: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if fence is None and index + 1 < len(lines) and _starts_table(line, lines[index + 1]):
            end = index + 2
            while end < len(lines) and lines[end].strip() and "|" in lines[end]:
                end += 1
            output.extend(_render_table(lines[index:end], allowed_urls))
            index = end
            continue
        fence = _next_fence(line, fence)
        output.append(line)
        index += 1
    return "\n".join(output)


def _starts_table(header: str, separator: str) -> bool:
    stripped = separator.strip()
    return "|" in header and "|" in stripped and _TABLE_SEPARATOR.fullmatch(stripped) is not None


def _render_table(lines: list[str], allowed_urls: frozenset[str]) -> list[str]:
    """Render a table's lines (header, separator, rows) as a code block, then a line of its allowed links.

    Links in cells show only their label, because a code block cannot link. Those whose URL is allowed are
    repeated as Markdown links below the block.
    """
    links: dict[str, str] = {}
    header = [_plain_cell(cell, allowed_urls, links) for cell in _split_cells(lines[0])]
    alignments = [_alignment(cell) for cell in _split_cells(lines[1])]
    rows = [[_plain_cell(cell, allowed_urls, links) for cell in _split_cells(line)] for line in lines[2:]]

    column_count = max(len(header), *(len(row) for row in rows)) if rows else len(header)
    table = [_pad_row(row, column_count) for row in [header, *rows]]
    widths = [max(_display_width(row[column]) for row in table) for column in range(column_count)]
    alignments = _pad_row(alignments, column_count, filler="left")

    rendered = [_render_row(table[0], widths, alignments)]
    rendered.append("  ".join("-" * max(width, 1) for width in widths))
    rendered.extend(_render_row(row, widths, alignments) for row in table[1:])

    block = [CODE_FENCE, *rendered, CODE_FENCE]
    if links:
        block.append(TABLE_LINKS_LABEL + " " + ", ".join(f"[{label}]({url})" for url, label in links.items()))
    return block


def _split_cells(line: str) -> list[str]:
    content = line.strip()
    if content.startswith("|"):
        content = content[1:]
    if content.endswith("|") and not content.endswith("\\|"):
        content = content[:-1]
    return [cell.strip().replace("\\|", "|") for cell in _CELL_DIVIDER.split(content)]


def _alignment(separator_cell: str) -> str:
    if separator_cell.startswith(":") and separator_cell.endswith(":") and len(separator_cell) > 1:
        return "center"
    if separator_cell.endswith(":"):
        return "right"
    return "left"


def _plain_cell(cell: str, allowed_urls: frozenset[str], links: dict[str, str]) -> str:
    """Return a cell's text without Markdown, adding each allowed link in it to `links` (URL to label)."""

    def label_of(match: re.Match[str]) -> str:
        label = match["label"].strip()
        url = match["angled"] if match["angled"] is not None else match["url"]
        if url in allowed_urls and not _UNSAFE_IN_URL.search(url):
            links.setdefault(url, _strip_inline_markdown(label) or url)
        return label

    for _ in range(_MAX_LINK_NESTING):
        replaced = _MARKDOWN_LINK.sub(label_of, cell)
        if replaced == cell:
            break
        cell = replaced
    return _strip_inline_markdown(cell)


def _pad_row(row: list[str], count: int, filler: str = "") -> list[str]:
    return row[:count] + [filler] * (count - len(row))


def _render_row(cells: list[str], widths: list[int], alignments: list[str]) -> str:
    padded = [_align(cell, width, alignment) for cell, width, alignment in zip(cells, widths, alignments, strict=True)]
    return "  ".join(padded).rstrip()


def _align(cell: str, width: int, alignment: str) -> str:
    gap = width - _display_width(cell)
    if alignment == "right":
        return " " * gap + cell
    if alignment == "center":
        return " " * (gap // 2) + cell + " " * (gap - gap // 2)
    return cell + " " * gap


def _display_width(text: str) -> int:
    """Estimate the columns that `text` takes in a monospaced font.

    NOTE: Wide East Asian characters and most emoji count as 2 and combining marks and zero-width
    characters as 0. Fonts differ, so columns with emoji can still be off by one.
    """
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) == "Cf" or 0xFE00 <= ord(char) <= 0xFE0F:
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


# --- Links ------------------------------------------------------------------------------------------


class _LinkFilter:
    """Keeps the links whose URL is allowed and removes every other URL from Markdown text.

    Inside fenced code blocks, where Markdown shows links as written, only the URLs are filtered, so that
    code such as `handlers[name](event)` is left alone. Kept links are swapped for placeholders while the
    later patterns run, so that no pattern matches a URL twice, and restored at the end.
    """

    def __init__(self, allowed_urls: frozenset[str]) -> None:
        self.allowed_urls = allowed_urls
        self.kept: list[str] = []

    def apply(self, text: str) -> str:
        output: list[str] = []
        fence: str | None = None
        for line in text.replace("\x00", "").split("\n"):
            next_fence = _next_fence(line, fence)
            in_code = fence is not None or next_fence is not None
            fence = next_fence
            output.append(self._filter_bare_urls(line) if in_code else self._filter_prose(line))
        return self._restore("\n".join(output))

    def _filter_prose(self, text: str) -> str:
        for _ in range(_MAX_LINK_NESTING):
            replaced = _MARKDOWN_LINK.sub(self._markdown_link, text)
            if replaced == text:
                break
            text = replaced
        text = _ANGLE_LINK.sub(self._angle_link, text)
        return self._filter_bare_urls(text)

    def _is_allowed(self, url: str | None) -> bool:
        return url is not None and url in self.allowed_urls and not _UNSAFE_IN_URL.search(url)

    def _keep(self, markdown: str) -> str:
        self.kept.append(markdown)
        return f"\x00{len(self.kept) - 1}\x00"

    def _link_or_label(self, label: str, url: str | None) -> str:
        label = self._filter_bare_urls(label).strip()
        if self._is_allowed(url):
            return self._keep(f"[{label or url}]({url})")
        return label or REMOVED_LINK

    def _markdown_link(self, match: re.Match[str]) -> str:
        url = match["angled"] if match["angled"] is not None else match["url"]
        return self._link_or_label(match["label"], url)

    def _angle_link(self, match: re.Match[str]) -> str:
        return self._link_or_label(match["label"] or "", match["url"])

    def _filter_bare_urls(self, text: str) -> str:
        return _BARE_URL.sub(self._bare_url, text)

    def _bare_url(self, match: re.Match[str]) -> str:
        url = match.group(0)
        trailing = ""
        while url and not self._is_allowed(url) and url[-1] in _URL_TRAILING:
            trailing = url[-1] + trailing
            url = url[:-1]
        if self._is_allowed(url):
            return self._keep(url) + trailing
        return REMOVED_LINK + trailing

    def _restore(self, text: str) -> str:
        # A kept link's label can contain the placeholder of a link nested in it.
        for _ in range(len(self.kept) + 1):
            if "\x00" not in text:
                break
            text = _PLACEHOLDER.sub(lambda match: self.kept[int(match.group(1))], text)
        return text


# --- Notification text ------------------------------------------------------------------------------


def _answer_fallback(prepared_markdown: str) -> str:
    """Build the notification text: the answer without Markdown markers, escaped and cut to 4,000."""
    plain = _markdown_to_plain(prepared_markdown).strip() or EMPTY_ANSWER
    return truncate(_neutralise_broadcasts(escape_mrkdwn(plain)), MAX_FALLBACK_TEXT)


def _markdown_to_plain(markdown: str) -> str:
    lines = list(_plain_lines(markdown.split("\n")))
    return _BLANK_RUN.sub("\n\n", "\n".join(lines))


def _plain_lines(lines: Iterable[str]) -> Iterator[str]:
    """Yield each line without Markdown markers. Fences, table separators and rules are dropped."""
    fence: str | None = None
    for line in lines:
        next_fence = _next_fence(line, fence)
        is_fence_line = next_fence != fence
        fence = next_fence
        if is_fence_line:
            continue
        if fence is not None:
            yield _strip_code_markers(line)
            continue
        stripped = line.strip()
        if "|" in stripped and _TABLE_SEPARATOR.fullmatch(stripped):
            continue
        if _THEMATIC_BREAK.match(line):
            continue
        line = _BLOCKQUOTE.sub("", line)
        if _HEADING.match(line):
            line = _HEADING_CLOSE.sub("", _HEADING.sub("", line))
        yield _strip_inline_markdown(line)


def _strip_inline_markdown(text: str) -> str:
    """Remove links' URLs, emphasis markers and backticks, keeping the text they mark."""
    for _ in range(_MAX_LINK_NESTING):
        replaced = _MARKDOWN_LINK.sub(lambda match: match["label"], text)
        if replaced == text:
            break
        text = replaced
    text = _strip_code_markers(text)
    text = _STAR_EMPHASIS.sub(lambda match: match[1] or "", text)
    return _UNDERSCORE_EMPHASIS.sub(lambda match: match[1] or "", text)


def _strip_code_markers(text: str) -> str:
    """Remove backticks and the doubled markers `**`, `__` and `~~`, which a notification would show as is."""
    for marker in _DOUBLE_MARKERS:
        text = text.replace(marker, "")
    return text.replace("`", "")
