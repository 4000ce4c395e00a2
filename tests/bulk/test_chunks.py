from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from gateway.bulk.chunks import CHUNK_SIZE, chunks, parse_chunk
from gateway.errors import InvalidInput


@pytest.mark.parametrize(("n", "expected"), [(1, [1]), (100, [100]), (101, [100, 1]), (250, [100, 100, 50])])
def test_chunks_hold_exactly_100_and_the_last_may_be_smaller(n: int, expected: list[int]) -> None:
    out = list(chunks("job_1", (f"r{i}" for i in range(n))))
    assert [len(c.recipient_ids) for c in out] == expected
    assert [r for c in out for r in c.recipient_ids] == [f"r{i}" for i in range(n)]
    body = json.loads(out[0].body())
    assert set(body) == {"jobId", "recipientIds"} and body["jobId"] == "job_1"
    assert parse_chunk(out[-1].body()) == out[-1]


def test_no_recipients_no_chunk() -> None:
    assert list(chunks("job_1", [])) == []


def test_chunking_streams() -> None:
    pulled = 0

    def ids() -> Iterator[str]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield f"r{i}"

    stream = chunks("job_1", ids())
    first = next(stream)
    assert len(first.recipient_ids) == CHUNK_SIZE
    assert pulled == CHUNK_SIZE  # nothing read ahead of the chunk being built


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"jobId": "j"}',
        '{"jobId": "", "recipientIds": []}',
        '{"jobId": "j", "recipientIds": [1]}',
    ],
)
def test_a_malformed_chunk_is_invalid_input(body: str) -> None:
    with pytest.raises(InvalidInput):
        parse_chunk(body)
