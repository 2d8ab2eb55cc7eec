"""build_digest_messages: layouts, changes with arrows, links, escaping and Slack's limits."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.digest_content import (
    NO_METRICS,
    ChannelMetrics,
    ClientDigest,
    DailyTotals,
    DigestData,
    DigestTotals,
    KeyMetrics,
    OutlierLine,
)
from tests.slack_emulator import BlockKitChecker, find_mentions
from tests.views.blockkit import all_texts, limit_violations, mrkdwn_objects, mrkdwn_texts, unsafe_markup
from views.digest import DigestMessages, build_digest_messages, format_day
from views.messages import SlackMessage

WEB_URL = "https://mc.test"
LOCAL_DATE = date(2026, 12, 3)
WINDOW_END = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
HOSTILE = "a & b <!channel> <!here> <@U123> <#C1> <http://x|y> &amp; *bold* 😀"


def outlier(client_id: str = "cl-alpha", index: int = 0, **changes: object) -> OutlierLine:
    values: dict[str, object] = {
        "client_id": client_id,
        "outlier_id": f"out-{index}",
        "severity": "high",
        "status": "open",
        "metric": "cpa",
        "channel": "Google Ads",
        "observed": 84.2,
        "expected": 31.5,
        "detected_at": WINDOW_END - timedelta(hours=3),
    }
    values.update(changes)
    return OutlierLine(**values)  # type: ignore[arg-type]


def channel_metrics(channel: str = "Google Ads", *, previous: KeyMetrics | None = None) -> ChannelMetrics:
    current = KeyMetrics(spend=4210.55, conversions=131, revenue=18950.4, cpa=32.14, roas=4.5)
    if previous is None:
        previous = KeyMetrics(spend=4000, conversions=140, revenue=17000, cpa=28.57, roas=4.25)
    return ChannelMetrics(channel=channel, current=current, previous=previous)


def client(
    client_id: str = "cl-alpha",
    name: str = "Alpha Outdoor",
    *,
    outliers: list[OutlierLine] | None = None,
    notes_updated: int = 1,
    metrics: list[ChannelMetrics] | None = None,
    statuses: dict[str, int] | None = None,
) -> ClientDigest:
    lines = [outlier(client_id)] if outliers is None else outliers
    severities: dict[str, int] = {}
    for line in lines:
        severities[str(line.severity)] = severities.get(str(line.severity), 0) + 1
    channels = [channel_metrics()] if metrics is None else metrics
    return ClientDigest(
        client_id=client_id,
        name=name,
        notes_by_status={"open": 2, "done": 1} if statuses is None else statuses,
        notes_updated=notes_updated,
        outliers_by_severity=severities,
        top_outliers=lines,
        metrics=channels,
        has_metrics=any(not channel.current.is_empty for channel in channels),
    )


def digest(clients: list[ClientDigest], *, quiet: bool = False) -> DigestData:
    severities: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for item in clients:
        for severity, count in item.outliers_by_severity.items():
            severities[severity] = severities.get(severity, 0) + count
        for status, count in item.notes_by_status.items():
            statuses[status] = statuses.get(status, 0) + count
    totals = DigestTotals(
        notes_by_status=statuses,
        notes_updated=sum(item.notes_updated for item in clients),
        outliers_by_severity=severities,
        top_outliers=[line for item in clients for line in item.top_outliers][:5],
        metrics=[channel_metrics()] if any(item.metrics for item in clients) else [],
    )
    series = [
        DailyTotals(day=LOCAL_DATE - timedelta(days=days), spend=100.0, conversions=3.0, revenue=300.0, roas=3.0)
        for days in range(7, 0, -1)
    ]
    return DigestData(
        agency_id="ag-acme",
        local_date=LOCAL_DATE,
        window_start=WINDOW_END - timedelta(hours=24),
        window_end=WINDOW_END,
        generated_at=WINDOW_END,
        clients=clients,
        totals=totals,
        quiet=quiet,
        series=series,
    )


def build(data: DigestData, *, web_url: str | None = WEB_URL, scope_label: str = "Acme Digital") -> DigestMessages:
    return build_digest_messages(data, web_url=web_url, scope_label=scope_label)


def header_text(message: SlackMessage) -> str:
    return str(message.blocks[0]["text"]["text"])


def blocks_json(message: SlackMessage) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def problems(message: SlackMessage) -> list[str]:
    """List limit problems found by the emulator's checker and by the independent view checker."""
    checker = BlockKitChecker()
    checker.check_blocks(message.blocks, "/blocks", maximum=50, surface="message")
    checker.check_length(message.text, "/text", "text", 4000)
    return [problem.describe() for problem in checker.problems] + limit_violations(message)


def every_message(messages: DigestMessages) -> list[SlackMessage]:
    return [messages.main, *messages.replies]


def busy_agency(count: int, *, name: str = "Client", channels: int = 3) -> DigestData:
    clients = [
        client(
            f"cl-{index:03d}",
            f"{name} {index}",
            outliers=[outlier(f"cl-{index:03d}", n) for n in range(index % 6)],
            notes_updated=index % 4,
            metrics=[channel_metrics(f"Channel {n}") for n in range(channels)],
        )
        for index in range(count)
    ]
    return digest(clients)


# --- Dates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2026, 12, 3), "Thursday 3 December"),
        (date(2027, 1, 1), "Friday 1 January"),
        (date(2024, 2, 29), "Thursday 29 February"),
    ],
)
def test_format_day_english(day: date, text: str) -> None:
    assert format_day(day) == text


# --- One client -------------------------------------------------------------------------------------


def test_single_client_header() -> None:
    messages = build(digest([client()]), scope_label="Alpha Outdoor")

    assert header_text(messages.main) == ":sunrise: Daily digest for Alpha Outdoor, Thursday 3 December"


def test_single_client_everything_in_main() -> None:
    messages = build(digest([client()]))

    text = blocks_json(messages.main)
    assert messages.replies == []
    assert "*cpa* on Google Ads" in text
    assert "2 open" in text
    assert "1 changed in the last 24 hours" in text
    assert "*Google Ads*: spend 4,210.55" in text
    assert "Key metrics for Wednesday 2 December" in text


def test_single_client_links_client_page() -> None:
    messages = build(digest([client(client_id="cl alpha/1")]))

    assert "<https://mc.test/clients/cl%20alpha%2F1|Open in Mission Control>" in blocks_json(messages.main)


def test_single_client_no_link_without_web_url() -> None:
    messages = build(digest([client()]), web_url=None)

    assert "https://" not in blocks_json(messages.main)


def test_single_client_within_limits() -> None:
    messages = build(digest([client()]))

    assert problems(messages.main) == []


def test_single_client_fallback_summary() -> None:
    messages = build(digest([client()]))

    assert messages.main.text == (
        "Daily digest for Acme Digital, Thursday 3 December: 1 outlier, 1 note changed, metrics for 1 channel"
    )


def test_every_mrkdwn_is_verbatim() -> None:
    for message in every_message(build(busy_agency(5))):
        for text_object in mrkdwn_objects(message):
            assert text_object["verbatim"] is True


# --- Changes ----------------------------------------------------------------------------------------


def test_change_up_and_down_in_percent() -> None:
    messages = build(digest([client()]))

    text = blocks_json(messages.main)
    assert "spend 4,210.55 (:arrow_up: +5.3%)" in text
    assert "conversions 131 (:arrow_down: -6.4%)" in text


def test_change_from_zero() -> None:
    previous = KeyMetrics(spend=0, conversions=0, revenue=0, cpa=None, roas=None)
    messages = build(digest([client(metrics=[channel_metrics(previous=previous)])]))

    text = blocks_json(messages.main)
    assert "spend 4,210.55 (:arrow_up: from 0)" in text
    assert "CPA 32.14 ·" in text


def test_change_zero_to_zero_flat() -> None:
    zero = KeyMetrics(spend=0, conversions=0, revenue=0, cpa=None, roas=None)
    metrics = [ChannelMetrics(channel="Meta", current=zero, previous=zero)]
    messages = build(digest([client(metrics=metrics)]))

    text = blocks_json(messages.main)
    assert "spend 0.00 (:left_right_arrow: 0%)" in text
    assert "CPA n/a · ROAS n/a" in text


def test_change_missing_previous_day() -> None:
    messages = build(digest([client(metrics=[channel_metrics(previous=NO_METRICS)])]))

    text = blocks_json(messages.main)
    assert "spend 4,210.55 · conversions 131 · CPA 32.14 · ROAS 4.50" in text


def test_outlier_deviation_shown() -> None:
    messages = build(digest([client()]))

    assert "84.20, expected 31.50 (:arrow_up: +167.3%)" in blocks_json(messages.main)


def test_outlier_expected_zero() -> None:
    messages = build(digest([client(outliers=[outlier(observed=5, expected=0)])]))

    assert "5, expected 0 (:arrow_up: from 0)" in blocks_json(messages.main)


def test_severity_emoji_and_resolved() -> None:
    lines = [outlier(severity="critical", status="resolved")]
    messages = build(digest([client(outliers=lines)]))

    text = blocks_json(messages.main)
    assert ":red_circle: *cpa*" in text
    assert " · resolved" in text
    assert ":red_circle: 1 critical" in text


def test_outlier_detected_time_is_slack_date() -> None:
    messages = build(digest([client()]))

    unix = int((WINDOW_END - timedelta(hours=3)).timestamp())
    assert f"detected <!date^{unix}^" in blocks_json(messages.main)


# --- Several clients --------------------------------------------------------------------------------


def test_agency_replies_one_per_active_client() -> None:
    idle = client("cl-idle", "Idle Co", outliers=[], notes_updated=0, metrics=[])
    data = digest([client("cl-alpha", "Alpha"), client("cl-beta", "Beta"), idle])

    messages = build(data)

    assert [header_text(reply) for reply in messages.replies] == [":office: Alpha", ":office: Beta"]


def test_agency_main_shows_totals_not_details() -> None:
    data = digest([client("cl-alpha", "Alpha"), client("cl-beta", "Beta")])

    messages = build(data)

    text = blocks_json(messages.main)
    assert "*2* of 2 clients had outliers" in text
    assert ":large_orange_circle: 2 high" in text
    assert "4 open" in text
    assert "Key metrics of all clients for Wednesday 2 December" in text
    assert "replies to this message" in text


def test_agency_outliers_name_their_client() -> None:
    data = digest([client("cl-alpha", "Alpha"), client("cl-beta", "Beta")])

    messages = build(data)

    assert "*cpa* on Google Ads: 84.20, expected 31.50 (:arrow_up: +167.3%) · Beta" in blocks_json(messages.main)


def test_agency_most_active_order() -> None:
    calm = client("cl-calm", "Calm", outliers=[], notes_updated=5)
    busy = client("cl-busy", "Busy", outliers=[outlier("cl-busy", 1), outlier("cl-busy", 2)], notes_updated=0)
    tied = client("cl-tied", "Tied", outliers=[outlier("cl-tied")], notes_updated=3)
    other = client("cl-other", "Other", outliers=[outlier("cl-other")], notes_updated=1)

    messages = build(digest([calm, busy, tied, other]))

    assert [header_text(reply) for reply in messages.replies] == [
        ":office: Busy",
        ":office: Tied",
        ":office: Other",
        ":office: Calm",
    ]


def test_agency_lists_at_most_ten_clients() -> None:
    messages = build(busy_agency(25))

    section = next(text for text in mrkdwn_texts(messages.main) if text.startswith("*Most active clients*"))
    assert section.count("\n") == 11
    assert section.endswith("…and 15 more")


def test_agency_client_links() -> None:
    messages = build(digest([client("cl-alpha", "Alpha"), client("cl-beta", "Beta")]))

    assert "<https://mc.test/clients/cl-beta|Beta>" in blocks_json(messages.main)


def test_agency_client_line_leaves_out_zero_counts() -> None:
    calm = client("cl-calm", "Calm", outliers=[], notes_updated=0)
    messages = build(digest([calm, client("cl-beta", "Beta")]))

    assert "<https://mc.test/clients/cl-calm|Calm>: metrics for 1 channel" in blocks_json(messages.main)


def test_client_link_label_escaped() -> None:
    messages = build(digest([client("cl-alpha", "Alpha"), client("cl-beta", "Smith & <Sons>")]))

    assert "<https://mc.test/clients/cl-beta|Smith &amp; &lt;Sons&gt;>" in blocks_json(messages.main)


def test_client_label_with_pipe_not_linked() -> None:
    messages = build(digest([client("cl-alpha", "Alpha"), client("cl-beta", "Beta | Gamma")]))

    text = blocks_json(messages.main)
    assert "*Beta | Gamma*: 1 outlier" in text
    assert "clients/cl-beta|" not in text


def test_agency_main_and_replies_within_limits() -> None:
    for message in every_message(build(busy_agency(12))):
        assert problems(message) == []


def test_three_hundred_long_names_within_limits() -> None:
    data = busy_agency(300, name="Long & <Winding> Name " * 20, channels=40)

    messages = build(data, scope_label="Acme Digital " * 30)

    assert len(messages.replies) == len([item for item in data.clients if item.has_activity])
    for message in every_message(messages):
        assert problems(message) == []
        assert len(message.blocks) <= 50


def test_three_hundred_long_ids_within_limits() -> None:
    client_ids = [f"{'&' * 490}{index:03d}" for index in range(300)]
    clients = [
        client(client_id, f"Client {index}", outliers=[outlier(client_id, n) for n in range(2)])
        for index, client_id in enumerate(client_ids)
    ]

    messages = build(digest(clients))

    for message in every_message(messages):
        assert problems(message) == []


def test_long_scope_label_keeps_date() -> None:
    messages = build(digest([client()]), scope_label="Acme " * 100)

    header = header_text(messages.main)
    assert len(header) <= 150
    assert header.endswith("…, Thursday 3 December")


def test_many_statuses_summarised() -> None:
    statuses = {f"status {index}": index + 1 for index in range(20)}
    messages = build(digest([client(statuses=statuses)]))

    assert "12 more statuses" in blocks_json(messages.main)


# --- Quiet day --------------------------------------------------------------------------------------


def test_quiet_day_short_message_no_replies() -> None:
    idle = client("cl-idle", "Idle Co", outliers=[], notes_updated=0, metrics=[])

    messages = build(digest([idle, idle], quiet=True))

    assert messages.replies == []
    assert len(messages.main.blocks) == 2
    assert "A quiet day" in blocks_json(messages.main)
    assert messages.main.text == "Daily digest for Acme Digital, Thursday 3 December: a quiet day, nothing to report."
    assert problems(messages.main) == []


# --- Escaping ---------------------------------------------------------------------------------------


def test_platform_strings_escaped() -> None:
    line = outlier("cl-alpha", metric=HOSTILE, channel=HOSTILE)
    hostile = client(
        "cl-alpha",
        HOSTILE,
        outliers=[line],
        metrics=[channel_metrics(HOSTILE)],
        statuses={HOSTILE: 1},
    )
    data = digest([hostile, client("cl-beta", HOSTILE)])

    messages = build(data, scope_label=HOSTILE)

    for message in [*every_message(messages), build(digest([hostile]), scope_label=HOSTILE).main]:
        mentions = find_mentions(message.to_payload())
        assert [token for token in mentions if not token.startswith(f"<{WEB_URL}/clients/")] == []
        for text in mrkdwn_texts(message):
            assert unsafe_markup(text) == [], text


def test_header_plain_text_not_escaped() -> None:
    messages = build(digest([client()]), scope_label="Smith & Sons")

    assert header_text(messages.main) == ":sunrise: Daily digest for Smith & Sons, Thursday 3 December"
    assert messages.main.text.startswith("Daily digest for Smith &amp; Sons")


def test_total_text_below_estimate() -> None:
    data = busy_agency(300, name="&" * 200, channels=40)

    for message in every_message(build(data, scope_label="&" * 200)):
        assert sum(len(text) for text in all_texts(message)) <= 12_000
