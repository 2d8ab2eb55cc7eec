from __future__ import annotations

import json
from typing import Any

import pytest

from tests.views.factories import make_event
from views.console import readable_mrkdwn, render_console
from views.messages import SlackMessage, build_event_message


def render(event_type: str, **data: Any) -> str:
    message = build_event_message(make_event(event_type, **data), web_url="https://mc.test", client_workspace=False)
    return render_console(message, channel="C0001", team_id="T0001")


def readable_part(output: str) -> str:
    return output.split("--- Block Kit JSON ---")[0]


def test_console_title_names_team_and_channel() -> None:
    output = render("outlier.detected")

    assert output.splitlines()[0] == "=== Slack message to channel C0001 in team T0001 ==="


def test_console_outlier_readable_part() -> None:
    text = readable_part(render("outlier.detected", definition="Spend & <clicks>"))

    assert ":large_orange_circle: High outlier: cpa on Google Ads" in text
    assert "*Definition* Spend & <clicks>" in text
    assert "[Ask Houston]" in text
    assert "Detected 2026-03-05 13:30 UTC" in text
    assert "Open in Mission Control (https://mc.test/clients/cl-alpha/outliers/out-42)" in text
    assert "&lt;" not in text
    assert "<!date" not in text


def test_console_shows_literal_entity_once_decoded() -> None:
    text = readable_part(render("note.created", body="fish &amp; chips"))

    assert "fish &amp; chips" in text


def test_console_ends_with_block_kit_json() -> None:
    message = build_event_message(make_event("task.failed"), web_url=None, client_workspace=False)

    output = render_console(message, channel="C0001", team_id="T0001")
    payload = json.loads(output.split("--- Block Kit JSON ---\n", 1)[1])

    assert payload == {"text": message.text, "blocks": message.blocks}


def test_console_keeps_non_ascii_in_json() -> None:
    output = render("note.created", body="שלום 😀")

    assert "שלום 😀" in output.split("--- Block Kit JSON ---")[1]


def test_console_unknown_block_named() -> None:
    message = SlackMessage(
        text="hi", blocks=[{"type": "divider"}, {"type": "image", "image_url": "x", "alt_text": "y"}]
    )

    text = readable_part(render_console(message, channel="C1", team_id="T1"))

    assert "-" * 40 in text
    assert "[image block]" in text


@pytest.mark.parametrize(
    ("mrkdwn", "readable"),
    [
        pytest.param("<!date^1^{date_short_pretty} at {time}|2026-03-05 14:30 UTC>", "2026-03-05 14:30 UTC", id="date"),
        pytest.param("<https://a.test/?x=1&amp;y=2|Open>", "Open (https://a.test/?x=1&y=2)", id="link"),
        pytest.param("<https://a.test/>", "https://a.test/", id="bare-link"),
        pytest.param("a &lt;b&gt; &amp;amp;", "a <b> &amp;", id="entities"),
    ],
)
def test_readable_mrkdwn_cases(mrkdwn: str, readable: str) -> None:
    assert readable_mrkdwn(mrkdwn) == readable
