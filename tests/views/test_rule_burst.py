"""The burst inputs of the rule modal."""

from __future__ import annotations

import pytest

from storage.models import NotificationType
from tests.slack_emulator import check_view
from views.rule_burst import BURST_THRESHOLD_BLOCK, BURST_WINDOW_BLOCK, burst_errors, burst_inputs


@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        (NotificationType.TASK_FAILURES, True),
        (NotificationType.OUTLIER_ALERTS, True),
        (NotificationType.SYSTEM_ERRORS, True),
        (NotificationType.NOTE_CREATED, False),
        (NotificationType.DAILY_DIGEST, False),
        (None, False),
    ],
)
def test_burst_inputs_by_type(kind: NotificationType | None, shown: bool) -> None:
    blocks = burst_inputs(kind, threshold=None, window_seconds=None)
    assert [block["block_id"] for block in blocks] == ([BURST_THRESHOLD_BLOCK, BURST_WINDOW_BLOCK] if shown else [])
    assert all(block["optional"] for block in blocks)
    assert all("initial_option" not in block["element"] for block in blocks)


def test_burst_inputs_show_current_values() -> None:
    threshold, window = burst_inputs(NotificationType.TASK_FAILURES, threshold=5, window_seconds=120)
    assert threshold["element"]["initial_option"]["value"] == "5"
    # 120 seconds is not a menu choice: it is listed so that editing the rule keeps it.
    assert window["element"]["initial_option"]["text"]["text"] == "120 seconds"
    assert [option["value"] for option in window["element"]["options"]] == ["30", "60", "120", "300", "900"]
    assert check_view({"type": "home", "blocks": [threshold, window]}) == []


def test_burst_errors_name_blocks() -> None:
    assert burst_errors(threshold=3, window_seconds=60) == {}
    errors = burst_errors(threshold=0, window_seconds=10**9)
    assert set(errors) == {BURST_THRESHOLD_BLOCK, BURST_WINDOW_BLOCK}
