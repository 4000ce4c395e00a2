"""What only the embedded SQLite store promises: layout, index use, processes, and clear faults."""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.clock import FakeClock, SystemClock
from gateway.store import sqlitedb
from gateway.store.conditions import SortKey
from gateway.store.port import StoreUnavailable, Update
from gateway.store.schema import TABLE_NAMES
from gateway.store.sqlite import SqliteTables

REPO = Path(__file__).resolve().parents[2]


def run_workers(code: str, *args: str, processes: int = 4) -> list[str]:
    """Start ``processes`` Python processes running ``code`` at once; their stdout, in start order."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(n), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for n in range(processes)
    ]
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outputs.append(out)
    return outputs


@pytest.fixture
def tables(tmp_path: Path) -> Iterator[SqliteTables]:
    t = SqliteTables(tmp_path / "data" / "wecare.db", FakeClock())
    yield t
    t.close()


# -- layout ----------------------------------------------------------------------------------------------


def test_one_file_one_sql_table_per_logical_table_in_wal_mode(tables: SqliteTables) -> None:
    raw = sqlite3.connect(tables.path)
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(TABLE_NAMES) <= names
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()
    assert sorted(p.name for p in tables.path.parent.iterdir() if not p.name.startswith("wecare.db")) == []


def test_a_directory_path_means_wecare_db_inside_it(tmp_path: Path) -> None:
    t = SqliteTables(tmp_path, FakeClock())
    t["Contacts"].put({"contactId": "c"})
    t.close()
    assert (tmp_path / "wecare.db").is_file()


def test_items_are_json_with_key_and_index_columns(tables: SqliteTables) -> None:
    tables["Messages"].put({"messageId": "m", "contactId": "c", "timestamp": 5, "expiresAt": 99, "x": [1]})
    raw = sqlite3.connect(tables.path)
    row = raw.execute('SELECT "messageId", "contactId", "timestamp", "status", _expires, _item FROM Messages')
    mid, contact, ts, status, expires, item = row.fetchone()
    raw.close()
    assert (mid, contact, ts, status, expires) == ("m", "c", 5, None, 99.0)
    assert json.loads(item) == {"messageId": "m", "contactId": "c", "timestamp": 5, "expiresAt": 99, "x": [1]}


@pytest.mark.parametrize(
    ("table", "index"),
    [
        ("Messages", None),
        ("Messages", "byContact"),
        ("Messages", "byStatus"),
        ("Messages", "byWhatsappMessageId"),
        ("BulkRecipients", None),
        ("Users", "byEmail"),
        ("DLQMessages", "byQueue"),
        ("Contacts", "search"),
    ],
)
def test_queries_are_index_searches_not_scans(tables: SqliteTables, table: str, index: str | None) -> None:
    t = tables[table]
    for plan in (t.explain(index), t.explain(index, paged=True), t.explain(get=True)):
        lookups = ("USING INDEX", "USING PRIMARY KEY")
        assert plan, plan
        assert all(step.startswith("SEARCH") and any(w in step for w in lookups) for step in plan), plan
        assert not any(step.startswith("SCAN") for step in plan)


def test_begins_with_is_an_index_range_even_at_the_top_code_point(tables: SqliteTables) -> None:
    contacts = tables["Contacts"]
    for key in ("ab", "ab\U0010ffff", "ab\U0010ffffz", "ac", "a\U0010ffff"):
        contacts.put({"contactId": key, "searchBucket": "b", "searchKey": key})
    found = contacts.query("b", index="search", sort=SortKey("begins_with", "ab"))
    assert [i["searchKey"] for i in found.items] == ["ab", "ab\U0010ffff", "ab\U0010ffffz"]
    top = contacts.query("b", index="search", sort=SortKey("begins_with", "a\U0010ffff"))
    assert [i["searchKey"] for i in top.items] == ["a\U0010ffff"]


def test_purge_expired_deletes_only_expired_rows(tmp_path: Path) -> None:
    clock = FakeClock()
    t = SqliteTables(tmp_path, clock)
    now = int(clock.now())
    for i in range(5):
        t["AuditLogs"].put({"logId": f"l{i}", "expiresAt": now + i})
    t["Contacts"].put({"contactId": "c", "expiresAt": now - 100})  # no TTL on Contacts
    clock.advance(2)
    assert t.purge_expired() == 3
    raw = sqlite3.connect(t.path)
    assert raw.execute('SELECT count(*) FROM "AuditLogs"').fetchone()[0] == 2
    raw.close()
    assert t["Contacts"].get({"contactId": "c"}) is not None
    t.close()


def test_values_json_cannot_hold_are_rejected(tables: SqliteTables) -> None:
    with pytest.raises(ValueError, match="JSON"):
        tables["Contacts"].put({"contactId": "c", "bad": float("nan")})
    with pytest.raises(ValueError, match="JSON"):
        tables["Contacts"].put({"contactId": "c", "bad": {1, 2}})
    with pytest.raises(ValueError, match="400 KB"):
        tables["Contacts"].put({"contactId": "c", "blob": "é" * 210_000})
    assert tables["Contacts"].get({"contactId": "c"}) is None


def test_an_index_added_later_is_backfilled_on_open(tmp_path: Path) -> None:
    path = tmp_path / "wecare.db"
    SqliteTables(path, FakeClock()).close()
    raw = sqlite3.connect(path)
    # An older file: Messages without the "status" column (as if byStatus were added afterwards).
    raw.executescript(
        """
        DROP TABLE "Messages";
        CREATE TABLE "Messages" ("messageId" NOT NULL, "contactId", "timestamp", "whatsappMessageId",
                                 _expires, _item TEXT NOT NULL, PRIMARY KEY ("messageId"));
        """
    )
    raw.executemany(
        'INSERT INTO "Messages" ("messageId", "timestamp", _item) VALUES (?, ?, ?)',
        [
            ("m1", 3, '{"messageId":"m1","status":"sent","timestamp":3}'),
            ("m2", 4, '{"messageId":"m2","status":7,"timestamp":4}'),
        ],  # a number: not in the S index
    )
    raw.commit()
    raw.close()
    t = SqliteTables(path, FakeClock())
    assert [i["messageId"] for i in t["Messages"].query("sent", index="byStatus").items] == ["m1"]
    t.close()


# -- processes -------------------------------------------------------------------------------------------

COUNTER_WORKER = """
    import sys
    from pathlib import Path
    from gateway.clock import SystemClock
    from gateway.store.port import Update
    from gateway.store.sqlite import SqliteTables
    tables = SqliteTables(Path(sys.argv[2]), SystemClock())
    for _ in range(int(sys.argv[3])):
        tables["BulkJobs"].update({"jobId": "j"}, Update(add={"sent": 1}))
    tables.close()
"""

RACE_WORKER = """
    import sys
    from pathlib import Path
    from gateway.clock import SystemClock
    from gateway.store.conditions import not_exists
    from gateway.store.port import ConditionFailed
    from gateway.store.sqlite import SqliteTables
    me, path, keys = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    tables = SqliteTables(path, SystemClock())
    for k in range(keys):
        try:
            tables["BulkRecipients"].put({"jobId": "j", "recipientId": f"r{k}", "owner": me},
                                         condition=not_exists("recipientId"))
            print(f"r{k}")
        except ConditionFailed:
            pass
    tables.close()
"""


def test_atomic_counter_loses_no_update_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "wecare.db"
    SqliteTables(path, SystemClock()).close()
    run_workers(COUNTER_WORKER, str(path), "150", processes=4)
    t = SqliteTables(path, SystemClock())
    assert t["BulkJobs"].get({"jobId": "j"}) == {"jobId": "j", "sent": 600}
    t.close()


def test_conditional_put_race_across_processes_has_one_winner_per_key(tmp_path: Path) -> None:
    path = tmp_path / "wecare.db"
    SqliteTables(path, SystemClock()).close()
    outputs = run_workers(RACE_WORKER, str(path), "100", processes=4)
    wins = [line for out in outputs for line in out.split()]
    assert sorted(wins) == sorted(f"r{k}" for k in range(100))
    t = SqliteTables(path, SystemClock())
    for n, out in enumerate(outputs):
        for key in out.split():
            assert t["BulkRecipients"].get({"jobId": "j", "recipientId": key})["owner"] == str(n)  # type: ignore[index]
    t.close()


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    t = SqliteTables(tmp_path, SystemClock())
    t["Contacts"].put({"contactId": "parent"})
    first = t._db.connection()
    # What os.fork runs in the child (the hook registered by the module): the inherited
    # per-thread connection belongs to the parent.
    sqlitedb._after_fork_in_child()
    assert t._db.connection() is not first
    assert t["Contacts"].get({"contactId": "parent"}) == {"contactId": "parent"}
    t.close()


def test_connections_of_finished_threads_are_released(tmp_path: Path) -> None:
    t = SqliteTables(tmp_path, SystemClock())
    t["Contacts"].put({"contactId": "main"})

    def work(n: int) -> None:
        t["Contacts"].put({"contactId": f"t{n}"})

    for n in range(20):
        worker = threading.Thread(target=work, args=(n,))
        worker.start()
        worker.join()
    gc.collect()
    assert t._db.open_connections == 1  # only this thread's
    assert len(t["Contacts"].scan(limit=50).items) == 21
    t.close()


# -- faults ----------------------------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "wecare.db"
    path.write_bytes(b"this is a text file, not SQLite\n" * 200)
    with pytest.raises(StoreUnavailable) as err:
        SqliteTables(path, FakeClock())
    message = str(err.value)
    assert str(path) in message and "not a valid SQLite database" in message and "backup" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_a_damaged_database_fails_its_integrity_check_on_open(tmp_path: Path) -> None:
    path = tmp_path / "wecare.db"
    t = SqliteTables(path, FakeClock())
    for i in range(400):
        t["Contacts"].put({"contactId": f"c{i:04d}", "name": "x" * 200})
    t.close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 3, len(data) - page, page * 2):  # scribble over interior pages
        data[offset + 8 : offset + 200] = b"\xff" * 192
    path.write_bytes(bytes(data))
    with pytest.raises(StoreUnavailable) as err:
        SqliteTables(path, FakeClock())
    assert str(path) in str(err.value)
    assert "integrity" in str(err.value) or "damaged" in str(err.value)


def test_a_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    with pytest.raises(StoreUnavailable) as err:
        SqliteTables(blocker / "data" / "wecare.db", FakeClock())
    assert f"cannot create the data directory {blocker / 'data'}" in str(err.value)


def test_an_unwritable_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "ro"
    data.mkdir()
    data.chmod(0o555)
    if os.geteuid() == 0:
        # root ignores permission bits; ask the same question the OS would answer for anyone else.
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == data else real_access(p, m))
    try:
        with pytest.raises(StoreUnavailable) as err:
            SqliteTables(data / "wecare.db", FakeClock())
    finally:
        data.chmod(0o755)
    assert f"the data directory {data} is not writable" in str(err.value)
    assert "permissions" in str(err.value)


def test_a_lock_held_past_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "wecare.db"
    t = SqliteTables(path, FakeClock(), busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable) as err:
            t["Contacts"].update({"contactId": "c"}, Update(add={"n": 1}))
        assert str(path) in str(err.value) and "locked" in str(err.value) and "0.2 s" in str(err.value)
        assert t["Contacts"].get({"contactId": "c"}) is None  # reads are not blocked by a writer
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert t["Contacts"].update({"contactId": "c"}, Update(add={"n": 1})) == {"contactId": "c", "n": 1}
    t.close()


def test_a_table_dropped_behind_our_back(tmp_path: Path) -> None:
    path = tmp_path / "wecare.db"
    t = SqliteTables(path, FakeClock())
    raw = sqlite3.connect(path)
    raw.execute('DROP TABLE "Users"')
    raw.commit()
    raw.close()
    with pytest.raises(StoreUnavailable) as err:
        t["Users"].get({"userId": "u"})
    assert str(path) in str(err.value) and "missing" in str(err.value)
    t.close()
    again = SqliteTables(path, FakeClock())  # opening recreates it
    assert again["Users"].get({"userId": "u"}) is None
    again.close()


def test_using_a_closed_store(tmp_path: Path) -> None:
    t = SqliteTables(tmp_path, FakeClock())
    t.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        t["Contacts"].get({"contactId": "c"})
