from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from hypothesis import given
from hypothesis import strategies as st

from channels.errors import (
    ChannelError,
    ChannelRejected,
    ChannelThrottled,
    ChannelUnavailable,
    ContentInvalid,
)
from channels.retry import Retrier, botocore_config, no_retry


class Failing:
    """Raises the given errors in turn, then returns ``"ok"``."""

    def __init__(self, *errors: ChannelError) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def throttled() -> ChannelThrottled:
    return ChannelThrottled("slow down", code="ThrottlingException")


def test_throttling_is_retried_at_most_three_times_with_growing_waits() -> None:
    sleeps: list[float] = []
    fn = Failing(*[throttled() for _ in range(10)])
    retrier = Retrier(base_delay=0.25, max_delay=8.0, sleep=sleeps.append, rand=lambda: 0.999)
    with pytest.raises(ChannelThrottled) as caught:
        retrier(fn)
    assert fn.calls == 4  # first try + 3 retries
    assert caught.value.attempts == 4
    assert len(sleeps) == 3
    assert sleeps[0] < sleeps[1] < sleeps[2]
    assert sleeps == pytest.approx([0.25 * 0.999, 0.5 * 0.999, 1.0 * 0.999])


def test_waits_are_jittered_by_the_random_source() -> None:
    draws = iter([0.1, 0.9, 0.5])
    sleeps: list[float] = []
    retrier = Retrier(base_delay=1.0, max_delay=100.0, sleep=sleeps.append, rand=lambda: next(draws))
    assert retrier(Failing(throttled(), throttled(), throttled())) == "ok"
    assert sleeps == pytest.approx([0.1 * 1, 0.9 * 2, 0.5 * 4])


def test_success_after_transient_errors_returns_the_value() -> None:
    sleeps: list[float] = []
    fn = Failing(throttled(), ChannelUnavailable("boom", code="InternalServerException"))
    assert Retrier(sleep=sleeps.append, rand=lambda: 0.5)(fn) == "ok"
    assert fn.calls == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "error",
    [
        ChannelRejected("bad", code="ValidationException"),
        ContentInvalid("too big", code="MediaTooLarge"),
        ChannelUnavailable("read timeout", code="OutcomeUnknown", retryable=False),
    ],
)
def test_non_retryable_errors_are_raised_at_once(error: ChannelError) -> None:
    sleeps: list[float] = []
    fn = Failing(error)
    with pytest.raises(type(error)) as caught:
        Retrier(sleep=sleeps.append)(fn)
    assert caught.value is error
    assert fn.calls == 1
    assert sleeps == []
    assert caught.value.attempts == 1


def test_waits_are_capped() -> None:
    retrier = Retrier(base_delay=1.0, max_delay=1.5, rand=lambda: 1.0)
    assert [retrier.delay(n) for n in (1, 2, 3)] == [1.0, 1.5, 1.5]


def test_more_than_three_retries_is_refused() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        Retrier(max_retries=4)


def test_no_retry_makes_one_attempt() -> None:
    fn = Failing(throttled())
    with pytest.raises(ChannelThrottled):
        no_retry()(fn)
    assert fn.calls == 1


def test_on_retry_sees_each_retry() -> None:
    seen: list[tuple[str, int, float]] = []
    retrier = Retrier(
        sleep=lambda _s: None, rand=lambda: 0.5, on_retry=lambda e, n, d: seen.append((e.code, n, d))
    )
    retrier(Failing(throttled(), throttled()))
    assert seen == [("ThrottlingException", 1, 0.125), ("ThrottlingException", 2, 0.25)]


@given(st.integers(min_value=1, max_value=3), st.floats(min_value=0.0, max_value=0.999999))
def test_full_jitter_delay_is_within_zero_and_the_exponential_ceiling(retry: int, draw: float) -> None:
    retrier = Retrier(base_delay=0.25, max_delay=8.0, rand=lambda: draw)
    delay = retrier.delay(retry)
    assert 0.0 <= delay <= min(8.0, 0.25 * 2 ** (retry - 1))


# --- botocore must not retry underneath us -------------------------------------------------------------


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.data


def _attempts_against_a_failing_service(config: Config, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _s: None)
    client = boto3.client(
        "pinpoint-sms-voice-v2",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
    )
    attempts = 0

    def unavailable(request: Any, **_kwargs: Any) -> AWSResponse:
        nonlocal attempts
        attempts += 1
        body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
        return AWSResponse(request.url, 400, {"x-amzn-RequestId": f"req-{attempts}"}, _Body(body))

    client.meta.events.register("before-send.pinpoint-sms-voice-v2.SendTextMessage", unavailable)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.send_text_message(DestinationPhoneNumber="+447812345678", MessageBody="hi")
    return attempts


def test_botocore_config_makes_exactly_one_http_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _attempts_against_a_failing_service(botocore_config(), monkeypatch) == 1


def test_botocore_max_attempts_counts_retries_not_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Why botocore_config uses total_max_attempts: max_attempts=1 would still retry once.
    config = Config(retries={"max_attempts": 1, "mode": "standard"})
    assert _attempts_against_a_failing_service(config, monkeypatch) == 2


def test_botocore_config_accepts_overrides() -> None:
    config = botocore_config(read_timeout=5)
    assert config.read_timeout == 5
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}
