"""Pure routing and delivery decisions: `rule_accepts`, `build_index`, `classify_slack_error` and backoff."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from bot.delivery_policy import (
    DEFAULT_RETRY_AFTER_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
    Action,
    backoff_seconds,
    classify_slack_error,
)
from bot.rule_index import EventFacts, RoutingTarget, build_index, rule_accepts
from storage.events_schema import Severity
from storage.models import NotificationType, Rule, RuleState, Workspace, WorkspaceStatus

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
AGENCY = "ag-acme"
OUTLIERS = NotificationType.OUTLIER_ALERTS


def make_rule(
    rule_id: str = "rule-1",
    *,
    team_id: str = "T0001",
    kind: NotificationType = OUTLIERS,
    client_id: str | None = None,
    min_severity: Severity | None = None,
    state: RuleState = RuleState.ACTIVE,
) -> Rule:
    return Rule(
        id=rule_id,
        team_id=team_id,
        channel="C0001",
        type=kind,
        client_id=client_id,
        min_severity=min_severity,
        state=state,
        failure_reason=None,
        created_at=NOW,
        updated_at=NOW,
    )


def make_workspace(
    team_id: str = "T0001",
    *,
    agency_id: str | None = AGENCY,
    client_id: str | None = None,
    status: WorkspaceStatus = WorkspaceStatus.ACTIVE,
) -> Workspace:
    return Workspace(team_id=team_id, name=None, agency_id=agency_id, client_id=client_id, status=status)


def facts(client_id: str | None, severity: Severity | None = None) -> EventFacts:
    return EventFacts(agency_id=AGENCY, client_id=client_id, notification_type=OUTLIERS, severity=severity)


def agency_target(*, client_id: str | None = None, min_severity: Severity | None = None) -> RoutingTarget:
    rule = make_rule(client_id=client_id, min_severity=min_severity)
    return RoutingTarget(rule=rule, workspace_client_id=None)


def client_target(*, client_id: str | None = None, min_severity: Severity | None = None) -> RoutingTarget:
    """Return a target whose rule belongs to the client workspace of cl-alpha."""
    rule = make_rule(client_id=client_id, min_severity=min_severity)
    return RoutingTarget(rule=rule, workspace_client_id="cl-alpha")


ACCEPT_CASES = [
    pytest.param(client_target(client_id="cl-alpha"), facts("cl-alpha"), True, id="client-workspace-own-client"),
    pytest.param(client_target(client_id="cl-alpha"), facts("cl-bravo"), False, id="client-workspace-other-client"),
    pytest.param(client_target(client_id="cl-alpha"), facts(None), False, id="client-workspace-null-client"),
    pytest.param(client_target(), facts("cl-bravo"), False, id="client-workspace-rule-without-client"),
    pytest.param(agency_target(client_id="cl-alpha"), facts("cl-alpha"), True, id="agency-rule-client-match"),
    pytest.param(agency_target(client_id="cl-alpha"), facts("cl-bravo"), False, id="agency-rule-other-client"),
    pytest.param(agency_target(client_id="cl-alpha"), facts(None), False, id="agency-rule-client-null-event"),
    pytest.param(agency_target(), facts("cl-bravo"), True, id="all-clients-rule"),
    pytest.param(agency_target(), facts(None), True, id="all-clients-rule-null-client"),
    pytest.param(
        agency_target(min_severity=Severity.HIGH), facts("cl-alpha", Severity.MEDIUM), False, id="severity-below"
    ),
    pytest.param(
        agency_target(min_severity=Severity.HIGH), facts("cl-alpha", Severity.HIGH), True, id="severity-equal"
    ),
    pytest.param(
        agency_target(min_severity=Severity.HIGH), facts("cl-alpha", Severity.CRITICAL), True, id="severity-above"
    ),
    pytest.param(agency_target(min_severity=Severity.LOW), facts("cl-alpha"), False, id="min-severity-no-severity"),
    pytest.param(agency_target(), facts("cl-alpha", Severity.LOW), True, id="no-min-severity-low-event"),
    pytest.param(
        client_target(min_severity=Severity.MEDIUM),
        facts("cl-bravo", Severity.CRITICAL),
        False,
        id="severity-ok-other-client",
    ),
]


@pytest.mark.parametrize(("target", "event", "accepted"), ACCEPT_CASES)
def test_rule_accepts_cases(target: RoutingTarget, event: EventFacts, accepted: bool) -> None:
    assert rule_accepts(target, event) is accepted


def indexed_rule_ids(rules: list[Rule], workspaces: list[Workspace]) -> list[str]:
    index = build_index(rules, workspaces)
    return sorted(target.rule.id for targets in index.values() for target in targets)


def test_build_index_keys_by_agency_and_type() -> None:
    rules = [make_rule("rule-outliers"), make_rule("rule-errors", kind=NotificationType.SYSTEM_ERRORS)]

    index = build_index(rules, [make_workspace()])

    assert sorted(index) == [(AGENCY, NotificationType.OUTLIER_ALERTS), (AGENCY, NotificationType.SYSTEM_ERRORS)]
    assert [target.rule.id for target in index[(AGENCY, OUTLIERS)]] == ["rule-outliers"]


def test_build_index_keeps_workspace_client() -> None:
    index = build_index([make_rule()], [make_workspace(client_id="cl-alpha")])

    [target] = index[(AGENCY, OUTLIERS)]

    assert target.workspace_client_id == "cl-alpha"


def test_build_index_separates_agencies() -> None:
    rules = [make_rule("rule-acme", team_id="T0001"), make_rule("rule-other", team_id="T0002")]
    workspaces = [make_workspace("T0001"), make_workspace("T0002", agency_id="ag-other")]

    index = build_index(rules, workspaces)

    assert [target.rule.id for target in index[("ag-other", OUTLIERS)]] == ["rule-other"]


SKIPPED_RULES = [
    pytest.param(
        make_rule("rule-skipped", team_id="T0SKIP", state=RuleState.PAUSED),
        [make_workspace("T0SKIP")],
        id="paused-rule",
    ),
    pytest.param(
        make_rule("rule-skipped", team_id="T0SKIP"),
        [make_workspace("T0SKIP", status=WorkspaceStatus.INACTIVE)],
        id="inactive-workspace",
    ),
    pytest.param(
        make_rule("rule-skipped", team_id="T0SKIP"), [make_workspace("T0SKIP", agency_id=None)], id="unlinked-workspace"
    ),
    pytest.param(make_rule("rule-skipped", team_id="T0SKIP"), [], id="unknown-workspace"),
]


@pytest.mark.parametrize(("rule", "workspaces"), SKIPPED_RULES)
def test_build_index_skips(rule: Rule, workspaces: list[Workspace]) -> None:
    rules = [rule, make_rule("rule-active")]

    assert indexed_rule_ids(rules, [make_workspace(), *workspaces]) == ["rule-active"]


def test_build_index_keeps_failing_rules() -> None:
    # Delivery holds a failing rule's messages until its channel works again, so it must still be routed to.
    rules = [make_rule("rule-failing", team_id="T0FAIL", state=RuleState.FAILING), make_rule("rule-active")]

    assert indexed_rule_ids(rules, [make_workspace(), make_workspace("T0FAIL")]) == ["rule-active", "rule-failing"]


def test_build_index_empty() -> None:
    assert build_index([], [make_workspace()]) == {}


CLASSIFY_CASES = [
    pytest.param(429, "ratelimited", "30", Action.RETRY_AFTER, 30.0, id="429-retry-after"),
    pytest.param(429, "ratelimited", "0.5", Action.RETRY_AFTER, 0.5, id="429-fractional-retry-after"),
    pytest.param(429, "ratelimited", None, Action.RETRY_AFTER, DEFAULT_RETRY_AFTER_SECONDS, id="429-no-header"),
    pytest.param(429, "ratelimited", "soon", Action.RETRY_AFTER, DEFAULT_RETRY_AFTER_SECONDS, id="429-junk-header"),
    pytest.param(429, "ratelimited", "-5", Action.RETRY_AFTER, 0.0, id="429-negative-header"),
    pytest.param(429, "ratelimited", "86400", Action.RETRY_AFTER, MAX_RETRY_AFTER_SECONDS, id="429-capped"),
    pytest.param(429, None, "2", Action.RETRY_AFTER, 2.0, id="429-without-error-code"),
    pytest.param(200, "ratelimited", "3", Action.RETRY_AFTER, 3.0, id="ratelimited-code-only"),
    pytest.param(500, None, None, Action.RETRY_BACKOFF, 0.0, id="500"),
    pytest.param(503, None, None, Action.RETRY_BACKOFF, 0.0, id="503"),
    pytest.param(200, "internal_error", None, Action.RETRY_BACKOFF, 0.0, id="internal-error"),
    pytest.param(200, "not_in_channel", None, Action.RULE_FAILING, 0.0, id="not-in-channel"),
    pytest.param(404, "channel_not_found", None, Action.RULE_FAILING, 0.0, id="channel-not-found"),
    pytest.param(200, "is_archived", None, Action.RULE_FAILING, 0.0, id="is-archived"),
    pytest.param(200, "invalid_auth", None, Action.WORKSPACE_INACTIVE, 0.0, id="invalid-auth"),
    pytest.param(200, "account_inactive", None, Action.WORKSPACE_INACTIVE, 0.0, id="account-inactive"),
    pytest.param(200, "token_revoked", None, Action.WORKSPACE_INACTIVE, 0.0, id="token-revoked"),
    pytest.param(200, "app_uninstalled", None, Action.WORKSPACE_INACTIVE, 0.0, id="app-uninstalled"),
    pytest.param(200, "invalid_blocks", None, Action.GIVE_UP, 0.0, id="invalid-blocks"),
    pytest.param(200, "msg_too_long", None, Action.GIVE_UP, 0.0, id="msg-too-long"),
    pytest.param(None, None, None, Action.GIVE_UP, 0.0, id="no-status-no-code"),
]


@pytest.mark.parametrize(("status", "error", "retry_after", "action", "delay"), CLASSIFY_CASES)
def test_classify_slack_error_cases(
    status: int | None, error: str | None, retry_after: str | None, action: Action, delay: float
) -> None:
    verdict = classify_slack_error(status=status, error=error, retry_after=retry_after, channel="C0ALERTS")

    assert verdict.action is action
    assert verdict.delay_seconds == delay
    assert verdict.reason


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
def test_classify_channel_error_names_channel(error: str) -> None:
    verdict = classify_slack_error(status=200, error=error, retry_after=None, channel="C0ALERTS")

    # A mention, so Slack shows the channel's name where the reason is displayed (DM, App Home).
    assert "<#C0ALERTS>" in verdict.reason
    assert "channel C0ALERTS" not in verdict.reason


def test_classify_channel_error_without_channel_id() -> None:
    verdict = classify_slack_error(status=200, error="is_archived", retry_after=None, channel="")

    assert verdict.reason.startswith("This channel is archived")


def test_classify_give_up_names_code() -> None:
    verdict = classify_slack_error(status=200, error="invalid_blocks", retry_after=None, channel="C0ALERTS")

    assert "invalid_blocks" in verdict.reason


def test_classify_nan_retry_after() -> None:
    verdict = classify_slack_error(status=429, error="ratelimited", retry_after="nan", channel="C0ALERTS")

    assert math.isfinite(verdict.delay_seconds)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        pytest.param(0, 1.0, id="attempt-0"),
        pytest.param(1, 1.0, id="attempt-1"),
        pytest.param(2, 2.0, id="attempt-2"),
        pytest.param(3, 4.0, id="attempt-3"),
        pytest.param(6, 32.0, id="attempt-6"),
        pytest.param(7, 60.0, id="attempt-7-capped"),
        pytest.param(30, 60.0, id="attempt-30-capped"),
    ],
)
def test_backoff_seconds_table(attempt: int, expected: float) -> None:
    assert backoff_seconds(attempt, base=1.0, cap=60.0) == expected


def test_backoff_seconds_never_shrinks() -> None:
    delays = [backoff_seconds(attempt, base=0.5, cap=300.0) for attempt in range(1, 40)]

    assert delays == sorted(delays)
    assert max(delays) == 300.0
