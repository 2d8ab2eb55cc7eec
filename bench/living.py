"""Counting a run's outcome when alerts are living messages: sends, top-level messages, summary edits, losses.

Since alerts became living messages, a flood of new alerts for one rule and client is one post and one burst
summary that is edited as it grows, so "one message per event" no longer describes a correct run. What does:

- every accepted event's delivery ends SENT;
- every accepted event can be reached from Slack: its alert has a top-level message of its own, or it is
  listed in a burst summary that was posted to the channel (both read from the alert ledger);
- no alert has two top-level messages (a duplicate), told apart from summaries by the summaries' `ts`.

An event counts as lost when either of the first two fails for it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bench.common import BenchBot
from storage.models import DeliveryState

# The message calls that put something into a channel: a new message or an edit of one.
CHANNEL_CALLS = ("chat.postMessage", "chat.update")
BENCH_MARKER = "Bench "
# A summary's text starts with the number of alerts of its burst: "1,000 outlier alerts for cl-alpha, ...".
SUMMARY_COUNT = re.compile(r"^([\d,]+) ")


@dataclass(frozen=True)
class LivingTally:
    accepted: int
    deliveries_sent: int
    deliveries_unsent: int
    top_level: int
    summaries: int
    summary_edits: int
    unreachable: int
    lost: int
    duplicates: int
    peak_calls_per_second: int
    last_call_at: float | None
    # The current text of each posted summary, oldest first: what a reader of the channel sees of the flood.
    summary_texts: tuple[str, ...] = ()
    # Posted summaries whose text does not yet count every alert of their burst (an edit still on its way).
    summaries_behind: int = 0


async def tally(bot: BenchBot, channel: str, events: Sequence[dict[str, Any]]) -> LivingTally:
    """Count the outcome for the accepted `events`, all routed to one outlier rule posting to `channel`."""
    runtime = bot.runtime
    storage = runtime.storage
    ledger = storage.alerts
    deliveries = {
        delivery.event_id: delivery
        for delivery in await storage.deliveries.list_by_state(limit=max(100, 2 * len(events)))
        if delivery.channel == channel
    }
    top = {message.ts: message for message in bot.emulator.top_level_messages(channel)}

    summary_ts: dict[str, str | None] = {}
    unsent = unreachable = lost = 0
    for event in events:
        delivery = deliveries.get(str(event["id"]))
        sent = delivery is not None and delivery.state is DeliveryState.SENT
        reachable = False
        if delivery is not None:
            record = await ledger.get_alert(
                rule_id=delivery.rule_id, kind="outlier", group=str(event["client_id"]), key=event["data"]["outlier_id"]
            )
            if record is not None and record.ts in top:
                reachable = True
            elif record is not None and record.summary_id is not None:
                if record.summary_id not in summary_ts:
                    summary = await ledger.get_summary(record.summary_id)
                    summary_ts[record.summary_id] = summary.ts if summary else None
                reachable = summary_ts[record.summary_id] in top
        unsent += not sent
        unreachable += not reachable
        lost += not (sent and reachable)

    summaries = {ts for ts in summary_ts.values() if ts in top}
    behind = 0
    for summary_id, ts in summary_ts.items():
        if ts in top:
            in_burst = await ledger.count_gathered(summary_id) + len(await ledger.list_burst_firsts(summary_id))
            shown = SUMMARY_COUNT.match(top[ts].text)
            behind += shown is None or int(shown.group(1).replace(",", "")) != in_burst
    per_alert: Counter[str] = Counter()
    for ts, message in top.items():
        key = _bench_key(message.blocks)
        if ts not in summaries and key is not None:
            per_alert[key] += 1
    calls = [
        call for call in bot.emulator.calls if call.method in CHANNEL_CALLS and call.params.get("channel") == channel
    ]
    edits = [call for call in calls if call.method == "chat.update" and call.ok and call.params.get("ts") in summaries]
    ok_times = [call.received_at for call in calls if call.ok]
    return LivingTally(
        accepted=len(events),
        deliveries_sent=sum(1 for delivery in deliveries.values() if delivery.state is DeliveryState.SENT),
        deliveries_unsent=unsent,
        top_level=len(top),
        summaries=len(summaries),
        summary_edits=len(edits),
        unreachable=unreachable,
        lost=lost,
        duplicates=sum(count - 1 for count in per_alert.values()),
        peak_calls_per_second=peak_per_second([call.received_at for call in calls]),
        last_call_at=max(ok_times, default=None),
        summary_texts=tuple(message.text for ts, message in top.items() if ts in summaries),
        summaries_behind=behind,
    )


async def settled(bot: BenchBot) -> bool:
    """True when nothing is pending, every event was routed and no alert or summary has an edit to send."""
    runtime = bot.runtime
    now = runtime.clock.now()
    if await bot.count(DeliveryState.PENDING):
        return False
    if await runtime.storage.events.find_unrouted(received_before=now, limit=1):
        return False
    # Edits are paced, so a dirty document is due later: look far enough ahead to see every one.
    return not await runtime.storage.alerts.due_edits(now=now + timedelta(days=1), limit=1)


def peak_per_second(times: Sequence[float]) -> int:
    """Return the most calls within any one-second window."""
    ordered = sorted(times)
    peak, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def _bench_key(blocks: list[Any] | None) -> str | None:
    """Return the event key a message's blocks name ("Bench <key>"), or None."""
    text = json.dumps(blocks or [])
    marker = text.find(BENCH_MARKER)
    if marker < 0:
        return None
    start = end = marker + len(BENCH_MARKER)
    while end < len(text) and (text[end].isalnum() or text[end] == "-"):
        end += 1
    return text[start:end]
