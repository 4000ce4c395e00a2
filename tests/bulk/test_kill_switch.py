"""The kill switch and bulk jobs: a running job pauses itself (no recipient is refused or lost), and
resumes, without resending, once the switch no longer covers its channel."""

from __future__ import annotations

import pytest

from gateway.kill_switch import REASON
from gateway.outbound.types import TextContent

from .conftest import World
from .helpers import assert_counters_match, drain, statuses


class Switch:
    """The switch as the worker reads it: on for some channels, optionally from the n-th read on."""

    def __init__(self, *channels: str, after: int = 0) -> None:
        self.channels = set(channels)
        self.after = after
        self.reads = 0

    def __call__(self, channel: str) -> bool:
        self.reads += 1
        return self.reads > self.after and channel in self.channels


def job_of(world: World, n: int, channel: str = "whatsapp") -> str:
    ids = world.add_contacts(n)
    job, _ = world.service().create(
        actor="op", channel=channel, content=TextContent("Your order has shipped"), contact_ids=ids
    )
    return job.job_id


def test_a_job_started_under_the_switch_waits_paused_and_resumes_on_release(world: World) -> None:
    job_id = job_of(world, 150)
    switch = Switch("whatsapp")
    drain(world, world.worker(sending_paused=switch))
    job = world.tables["BulkJobs"].get({"jobId": job_id})
    assert job is not None and job["status"] == "paused" and job["pauseReason"] == REASON
    assert world.driver_calls() == []  # nothing left
    assert statuses(world, job_id) == {"pending": 150}  # nobody refused: they wait
    assert_counters_match(world, job_id)

    service = world.service()
    assert service.resume_released(switch) == []  # still covered: stays paused
    switch.channels.clear()
    assert service.resume_released(switch) == [job_id]
    drain(world, world.worker(sending_paused=switch))
    assert statuses(world, job_id) == {"sent": 150}
    assert len(world.driver_calls()) == len(set(world.driver_calls())) == 150  # each exactly once
    assert_counters_match(world, job_id)
    actions = [e["action"] for e in world.tables["AuditLogs"].scan(limit=1000).items]
    assert "bulk.paused" in actions and "bulk.resumed" in actions


def test_the_switch_turned_on_mid_job_stops_it_within_the_chunk(world: World) -> None:
    job_id = job_of(world, 250)
    switch = Switch("whatsapp", after=40)
    drain(world, world.worker(sending_paused=switch))
    tally = statuses(world, job_id)
    assert tally["sent"] == 40 and tally["pending"] == 210 and set(tally) == {"sent", "pending"}
    assert_counters_match(world, job_id)
    switch.channels.clear()
    world.service().resume_released(switch)
    drain(world, world.worker(sending_paused=switch))
    assert statuses(world, job_id) == {"sent": 250}
    assert len(set(world.driver_calls())) == len(world.driver_calls()) == 250


def test_a_switch_on_another_channel_or_an_operator_pause_is_left_alone(world: World) -> None:
    job_id = job_of(world, 20)
    drain(world, world.worker(sending_paused=Switch("sms")))
    assert statuses(world, job_id) == {"sent": 20}  # SMS paused; WhatsApp runs

    other = job_of(world, 30)
    service = world.service()
    service.pause(other, "op")
    assert service.resume_released(Switch()) == []  # an operator's pause is the operator's to lift
    job = world.tables["BulkJobs"].get({"jobId": other})
    assert job is not None and job["status"] == "paused" and job["pauseReason"] == "OPERATOR"


def test_a_refusal_for_the_switch_puts_the_recipient_back_and_pauses(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker looked before the switch flipped, the gateway after: no recipient ends refused."""
    job_id = job_of(world, 30)
    with monkeypatch.context() as patch:
        patch.setattr(world.gateway, "_sending_paused", lambda channel: True)  # the gateway's own read
        drain(world, world.worker(sending_paused=Switch()))
    job = world.tables["BulkJobs"].get({"jobId": job_id})
    assert job is not None and job["status"] == "paused" and job["pauseReason"] == REASON
    assert statuses(world, job_id) == {"pending": 30}
    assert_counters_match(world, job_id)
    world.service().resume_released(Switch())
    drain(world, world.worker(sending_paused=Switch()))
    assert statuses(world, job_id) == {"sent": 30}  # the refused attempt's id is not reused
    assert len(set(world.driver_calls())) == 30
