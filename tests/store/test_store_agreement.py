"""Property: the SQLite store and the in-memory fake agree on any sequence of operations."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import drain

from gateway.clock import FakeClock
from gateway.store.conditions import Attr, Condition, SortKey, eq, exists, not_exists
from gateway.store.memory import MemoryTables
from gateway.store.port import ConditionFailed, Table, Tables, Update
from gateway.store.sqlite import SqliteTables

START = 1_764_067_200

conditions: st.SearchStrategy[Condition | None] = st.one_of(
    st.none(),
    st.just(not_exists("messageId")),
    st.just(exists("messageId")),
    st.builds(eq, st.just("status"), st.sampled_from(["sent", "failed"])),
    st.builds(Attr, st.just("n"), st.sampled_from(["lt", "ge", "ne"]), st.integers(0, 4)),
    st.builds(lambda a, b: a | b, st.just(eq("status", "sent")), st.just(Attr("n", "gt", 1))),
)

maybe = st.booleans()
likely = st.sampled_from([True, True, True, False])  # most items land in the indexes


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {"messageId": draw(st.sampled_from(["m0", "m1", "m2", "m3", "m4"]))}
    if draw(likely):
        item["contactId"] = draw(st.sampled_from(["c0", "c1"]))
    if draw(likely):
        item["timestamp"] = draw(st.integers(0, 3))
    if draw(likely):
        item["status"] = draw(st.sampled_from(["sent", "failed"]))
    # None: no TTL. 0: expired at once; the clock moves 1-2 s per "advance".
    ttl = draw(st.one_of(st.none(), st.none(), st.integers(0, 8)))
    if ttl is not None:
        item["expiresAt"] = START + ttl
    if draw(maybe):
        item["n"] = draw(st.integers(0, 5))
    if draw(st.booleans()):
        item["body"] = draw(st.text(max_size=3))
    return item


updates = st.builds(
    lambda s, a, r: Update(set=s, add=a, remove=r),
    st.dictionaries(
        st.sampled_from(["status", "contactId", "note"]),
        st.sampled_from(["sent", "failed", "c1"]),
        max_size=2,
    ),
    st.dictionaries(st.sampled_from(["n", "hits"]), st.integers(-2, 3), max_size=2),
    st.lists(st.sampled_from(["body", "timestamp", "expiresAt"]), max_size=2, unique=True),
).filter(lambda u: not (set(u.set) & set(u.remove)))

sorts = st.one_of(
    st.none(),
    st.builds(SortKey, st.sampled_from(["eq", "lt", "le", "gt", "ge"]), st.integers(0, 3)),
    st.builds(lambda a, b: SortKey("between", (a, b)), st.integers(0, 3), st.integers(0, 3)),
)

puts = st.tuples(st.just("put"), items(), st.one_of(st.none(), st.none(), conditions))
seed = st.lists(st.tuples(st.just("put"), items(), st.none()), min_size=3, max_size=10)
operations = st.one_of(
    puts,
    puts,
    puts,
    st.tuples(st.just("update"), st.sampled_from(["m0", "m1", "m2", "m3", "m4"]), updates, conditions),
    st.tuples(st.just("delete"), st.sampled_from(["m0", "m1", "m2", "m3", "m4"]), conditions),
    st.tuples(st.just("advance"), st.integers(1, 2)),
    st.tuples(
        st.just("byContact"), st.sampled_from(["c0", "c1"]), sorts, conditions, st.integers(1, 3), maybe
    ),
    st.tuples(st.just("byContact"), st.just("c0"), st.none(), st.none(), st.integers(1, 3), maybe),
    st.tuples(st.just("byStatus"), st.sampled_from(["sent", "failed"]), sorts, st.integers(1, 3), maybe),
    st.tuples(st.just("scan"), conditions, st.integers(1, 3)),
    st.tuples(st.just("get"), st.sampled_from(["m0", "m1", "m2", "m3", "m4"])),
)


def all_pages(fetch: Any) -> list[list[dict[str, Any]]]:
    return [p.items for p in drain(fetch, max_pages=100)]


def apply(table: Table, op: tuple[Any, ...], clock: FakeClock) -> object:
    kind = op[0]
    try:
        if kind == "put":
            table.put(dict(op[1]), condition=op[2])
            return "ok"
        if kind == "update":
            return table.update({"messageId": op[1]}, op[2], condition=op[3])
        if kind == "delete":
            table.delete({"messageId": op[1]}, condition=op[2])
            return "ok"
        if kind == "advance":
            return None
        if kind == "byContact":
            _, contact, sort, filter, limit, desc = op
            return all_pages(
                lambda c: table.query(
                    contact,
                    index="byContact",
                    sort=sort,
                    filter=filter,
                    limit=limit,
                    cursor=c,
                    descending=desc,
                )
            )
        if kind == "byStatus":
            _, status, sort, limit, desc = op
            return all_pages(
                lambda c: table.query(
                    status, index="byStatus", sort=sort, limit=limit, cursor=c, descending=desc
                )
            )
        if kind == "scan":
            return all_pages(lambda c: table.scan(filter=op[1], limit=op[2], cursor=c))
        return table.get({"messageId": op[1]})
    except ConditionFailed:
        return "ConditionFailed"
    except ValueError as exc:
        return f"ValueError: {type(exc).__name__}"


def observe(table: Table) -> object:
    """Everything a reader can see, through every access path and in pages of two."""
    return (
        [table.get({"messageId": m}) for m in ("m0", "m1", "m2", "m3", "m4")],
        all_pages(lambda c: table.scan(limit=2, cursor=c)),
        [
            all_pages(lambda c, p=p, d=d: table.query(p, index="byContact", limit=2, cursor=c, descending=d))
            for p in ("c0", "c1")
            for d in (False, True)
        ],
        all_pages(lambda c: table.query("c0", index="byContact", sort=SortKey("lt", 2), limit=2, cursor=c)),
        all_pages(
            lambda c: table.query(
                "sent", index="byStatus", sort=SortKey("ge", 1), limit=2, cursor=c, descending=True
            )
        ),
    )


@settings(max_examples=50, deadline=None)
@given(seed, st.lists(operations, min_size=5, max_size=30))
def test_sqlite_agrees_with_the_memory_fake(
    first: list[tuple[Any, ...]], then: list[tuple[Any, ...]]
) -> None:
    ops = first + then
    clock = FakeClock(START)
    memory: Tables = MemoryTables(clock)
    with tempfile.TemporaryDirectory() as folder:
        sqlite = SqliteTables(Path(folder) / "wecare.db", clock, integrity_check=False)
        try:
            for step, op in enumerate(ops):
                expected = apply(memory["Messages"], op, clock)
                actual = apply(sqlite["Messages"], op, clock)
                assert actual == expected, f"step {step}: {op}"
                assert observe(sqlite["Messages"]) == observe(memory["Messages"]), f"after step {step}: {op}"
                if op[0] == "advance":
                    clock.advance(op[1])
        finally:
            sqlite.close()
