from __future__ import annotations

import pytest

from gateway.bulk.errors import DEFAULT_RULE, ERROR_ACTIONS, Action, provider_code, rule_for

ROWS = [
    ("130429", Action.backoff),
    ("131056", Action.delay_recipient),
    ("131049", Action.defer),
    ("131026", Action.unreachable),
    ("131047", Action.template_required),
    ("131048", Action.pause_job),
    ("132015", Action.pause_job),
    ("132016", Action.pause_job),
]


def test_the_table_is_exactly_the_issue_rows() -> None:
    assert {code: rule.action for code, rule in ERROR_ACTIONS.items()} == dict(ROWS)


@pytest.mark.parametrize(("code", "action"), ROWS)
def test_each_row_from_a_code_field(code: str, action: Action) -> None:
    assert rule_for({"code": code, "message": "x"}) == (code, ERROR_ACTIONS[code])
    assert rule_for({"code": code})[1].action is action


@pytest.mark.parametrize(("code", "action"), ROWS)
def test_each_row_from_the_message_text(code: str, action: Action) -> None:
    error = {"code": "ValidationException", "message": f"(#{code}) something Meta said", "requestId": "r"}
    assert rule_for(error)[1].action is action


def test_explicit_meta_field() -> None:
    assert provider_code({"code": "ValidationException", "metaErrorCode": 131026}) == "131026"


@pytest.mark.parametrize(
    "error",
    [
        None,
        {},
        {"code": "ThrottlingException", "message": "slow down"},
        {"code": "ValidationException", "message": "id 1310261 is not a code"},
        {"code": "999999"},
    ],
)
def test_anything_else_fails_with_the_code(error: dict[str, object] | None) -> None:
    assert rule_for(error)[1] in (DEFAULT_RULE,)
    assert DEFAULT_RULE.action is Action.fail
