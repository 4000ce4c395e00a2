"""The last-Admin guard: there is always an enabled Admin, even when Admins change each other at once.

Counting Admins with a scan and then writing is two steps; two Admins disabling each other at the same
moment could both pass the count. The guard item ``guard#admins`` turns the decision into one
conditional write. These tests race it on a real SQLite file (a store per thread, as separate
processes would have) and on DynamoDB (moto), run random sequences of changes with injected crashes
between the two writes, and check that nobody can disable or demote themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from gateway.audit import AuditLog
from gateway.clock import FakeClock
from gateway.errors import Conflict
from gateway.identity.passwords import Passwords
from gateway.identity.principal import Role
from gateway.store.conditions import Condition, SortKey, eq
from gateway.store.dynamodb import DynamoTables, create_dynamodb_tables
from gateway.store.memory import MemoryTables
from gateway.store.port import Item, Key, Page, Table, Tables, Update
from gateway.store.schema import TableSchema
from gateway.store.sqlite import SqliteTables
from gateway.users import ADMIN_GUARD_ID, STALE_REMOVAL_SECONDS, UserService, counts_as_admin

from .support import World, bearer, cheap_passwords_instance

PASSWORD = "correct horse battery"
PASSWORDS: Passwords = cheap_passwords_instance()


# ---- helpers ---------------------------------------------------------------------------------------


def real_admins(tables: Tables) -> set[str]:
    """The enabled Admins according to the accounts themselves (not the guard)."""
    rows = tables["Users"].scan(filter=eq("kind", "user"), limit=1000).items
    return {u["userId"] for u in rows if counts_as_admin(u)}


def guard_admins(tables: Tables) -> set[str]:
    item = tables["Users"].get({"userId": ADMIN_GUARD_ID})
    assert item is not None, "the guard item should exist"
    return set(item["admins"])


def service(tables: Tables, clock: FakeClock) -> UserService:
    return UserService(tables, clock, AuditLog(tables, clock), PASSWORDS)


class WrappedTable:
    """A ``Table`` that forwards to another, with hooks around writes (crashes, meeting points, locks)."""

    def __init__(self, inner: Table, *, serial: threading.Lock | None = None) -> None:
        self.inner = inner
        self.schema: TableSchema = inner.schema
        self.cursors: Any = getattr(inner, "cursors", None)  # whatever the store signs cursors with
        self._serial = serial  # moto is not atomic per request the way DynamoDB is; this lock makes it so

    @property
    def name(self) -> str:
        return self.inner.name

    def before_write(self) -> None:
        """Override: runs before every put/update/delete."""

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._serial is None:
            return fn(*args, **kwargs)
        with self._serial:
            return fn(*args, **kwargs)

    def get(self, key: Key) -> Item | None:
        found: Item | None = self._call(self.inner.get, key)
        return found

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        self.before_write()
        self._call(self.inner.put, item, condition=condition)

    def update(self, key: Key, update: Update, *, condition: Condition | None = None) -> Item:
        self.before_write()
        out: Item = self._call(self.inner.update, key, update, condition=condition)
        return out

    def delete(self, key: Key, *, condition: Condition | None = None) -> None:
        self.before_write()
        self._call(self.inner.delete, key, condition=condition)

    def query(
        self,
        partition: Any,
        *,
        index: str | None = None,
        sort: SortKey | None = None,
        filter: Condition | None = None,
        limit: int = 100,
        cursor: str | None = None,
        descending: bool = False,
    ) -> Page:
        page: Page = self._call(
            self.inner.query,
            partition,
            index=index,
            sort=sort,
            filter=filter,
            limit=limit,
            cursor=cursor,
            descending=descending,
        )
        return page

    def scan(self, *, filter: Condition | None = None, limit: int = 100, cursor: str | None = None) -> Page:
        page: Page = self._call(self.inner.scan, filter=filter, limit=limit, cursor=cursor)
        return page


class WithUsers:
    """``Tables`` whose Users table is replaced by a wrapper."""

    def __init__(self, inner: Tables, users: Table) -> None:
        self._inner = inner
        self._users = users
        self.cursors: Any = getattr(inner, "cursors", None)

    def __getitem__(self, name: str) -> Table:
        return self._users if name == "Users" else self._inner[name]

    def close(self) -> None:
        self._inner.close()


class Lockstep(WrappedTable):
    """Holds this racer's first write of a round until the other racer reaches its own: both decide on
    the same state, as two requests arriving together do. (The old count-then-write code let both
    through here every time.)"""

    def __init__(
        self, inner: Table, meet: threading.Barrier, *, serial: threading.Lock | None = None
    ) -> None:
        super().__init__(inner, serial=serial)
        self._meet = meet
        self.armed = False

    def before_write(self) -> None:
        if self.armed:
            self.armed = False
            self._meet.wait()


# ---- the race --------------------------------------------------------------------------------------

Op = Callable[[UserService, str, str], object]


def _disable(users: UserService, target: str, actor: str) -> object:
    return users.set_disabled(target, True, actor=actor)


def _demote(users: UserService, target: str, actor: str) -> object:
    return users.set_role(target, "Operator", actor=actor)


PAIRS: list[tuple[Op, Op]] = [
    (_disable, _disable),
    (_demote, _demote),
    (_disable, _demote),
    (_demote, _disable),
]


def race(
    setup_tables: Tables,
    racer_tables: Sequence[Tables],
    clock: FakeClock,
    rounds: int,
    lockstep: list[Lockstep] | None = None,
) -> None:
    """Two Admins, a and b; each round a changes b and b changes a at the same moment. Exactly one of
    the two must win and the other be refused as the last Admin; never are both gone."""
    setup = service(setup_tables, clock)
    a, _ = setup.create("a@example.com", "Admin", actor="test", password=PASSWORD)
    b, _ = setup.create("b@example.com", "Admin", actor="test", password=PASSWORD)
    ids = (a["userId"], b["userId"])
    start = threading.Barrier(3, timeout=60)
    done = threading.Barrier(3, timeout=60)
    outcomes: list[list[object]] = [[None, None] for _ in range(rounds)]

    def work(index: int) -> None:
        users = service(racer_tables[index], clock)
        me, other = ids[index], ids[1 - index]
        try:
            for n in range(rounds):
                if lockstep is not None:
                    lockstep[index].armed = True
                start.wait()
                try:
                    PAIRS[n % len(PAIRS)][index](users, other, me)
                    outcomes[n][index] = "won"
                except Conflict as exc:
                    outcomes[n][index] = exc.details.get("reason", exc.message)
                except Exception as exc:  # reported by the main thread's assertion
                    outcomes[n][index] = repr(exc)
                done.wait()
        except threading.BrokenBarrierError:
            return

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in (0, 1)]
    for t in threads:
        t.start()
    try:
        for n in range(rounds):
            for user_id in ids:  # both enabled Admins again
                setup.set_role(user_id, "Admin", actor="test")
                setup.set_disabled(user_id, False, actor="test")
            assert real_admins(setup_tables) == guard_admins(setup_tables) == set(ids)
            start.wait()
            done.wait()
            assert sorted(map(str, outcomes[n])) == ["last_admin", "won"], f"round {n}: {outcomes[n]}"
            left = real_admins(setup_tables)
            assert len(left) == 1, f"round {n}: enabled Admins {left}"
            assert guard_admins(setup_tables) == left
            winner = ids[outcomes[n].index("won")]
            assert left == {winner}  # the one who acted first keeps its rights
    finally:
        start.abort()
        done.abort()
        for t in threads:
            t.join(timeout=10)


def test_admins_disabling_each_other_on_sqlite_never_leave_none(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "wecare.db"
    stores = [SqliteTables(path, clock) for _ in range(3)]  # one per thread, like separate processes
    try:
        race(stores[0], stores[1:], clock, rounds=30)
    finally:
        for store in stores:
            store.close()


def test_admins_deciding_on_the_same_state_on_sqlite_never_leave_none(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "wecare.db"
    stores = [SqliteTables(path, clock) for _ in range(3)]
    meet = threading.Barrier(2, timeout=30)
    steps = [Lockstep(s["Users"], meet) for s in stores[1:]]
    try:
        race(
            stores[0],
            [WithUsers(s, t) for s, t in zip(stores[1:], steps, strict=True)],
            clock,
            rounds=8,
            lockstep=steps,
        )
    finally:
        for store in stores:
            store.close()


@pytest.fixture
def dynamo() -> Iterator[DynamoTables]:
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        create_dynamodb_tables(client, "test-")
        yield DynamoTables(client, "test-", FakeClock())


def _atomic_per_request(tables: DynamoTables, serial: threading.Lock) -> Tables:
    return WithUsers(tables, WrappedTable(tables["Users"], serial=serial))


def test_admins_disabling_each_other_on_dynamodb_never_leave_none(dynamo: DynamoTables) -> None:
    serial = threading.Lock()
    clock = FakeClock()
    racers = [_atomic_per_request(dynamo, serial) for _ in range(2)]
    race(_atomic_per_request(dynamo, serial), racers, clock, rounds=30)


def test_admins_deciding_on_the_same_state_on_dynamodb_never_leave_none(dynamo: DynamoTables) -> None:
    serial = threading.Lock()
    meet = threading.Barrier(2, timeout=30)
    steps = [Lockstep(dynamo["Users"], meet, serial=serial) for _ in range(2)]
    race(
        _atomic_per_request(dynamo, serial),
        [WithUsers(dynamo, t) for t in steps],
        FakeClock(),
        rounds=8,
        lockstep=steps,
    )


# ---- random sequences, with crashes between the two writes -----------------------------------------


class Crash(Exception):
    """The process died here."""


class Crashing(WrappedTable):
    """Raises :class:`Crash` at the ``at``-th write from now (once), as if the process died there."""

    def __init__(self, inner: Table) -> None:
        super().__init__(inner)
        self.countdown = 0

    def before_write(self) -> None:
        if self.countdown:
            self.countdown -= 1
            if self.countdown == 0:
                raise Crash


ROLES = ("Viewer", "Operator", "Admin")
steps = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(ROLES), st.integers(0, 30), st.integers(0, 3)),
    st.tuples(st.just("role"), st.sampled_from(ROLES), st.integers(0, 30), st.integers(0, 3)),
    st.tuples(st.just("disable"), st.booleans(), st.integers(0, 30), st.integers(0, 3)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(steps, st.integers(0, 30)), min_size=1, max_size=25))
def test_the_guard_follows_the_real_admins_through_any_sequence(
    plan: list[tuple[tuple[str, object, int, int], int]],
) -> None:
    """After every step: at least one enabled Admin; the guard is exactly the enabled Admins, or a
    subset of them once a crash has hit between two writes. Each step is refused exactly when it
    would disable or demote the actor, or remove the last Admin."""
    clock = FakeClock()
    memory = MemoryTables(clock)
    crashing = Crashing(memory["Users"])
    tables = WithUsers(memory, crashing)
    users = service(tables, clock)
    root, _ = users.create("root@example.com", "Admin", actor="test", password=PASSWORD)
    ids = [root["userId"]]
    crashed = False
    for n, ((kind, value, target, crash_at), actor_pick) in enumerate(plan):
        clock.advance(STALE_REMOVAL_SECONDS + 1)  # an unfinished removal is stale by the next step
        before = real_admins(tables)
        target_id = ids[target % len(ids)]
        prior = users.get(target_id)
        actor = "test" if actor_pick % 3 == 0 else ids[actor_pick % len(ids)]
        crashing.countdown = crash_at  # 0: no crash; k: die at this step's k-th write
        try:
            if kind == "create":
                created, _ = users.create(f"u{n}@example.com", str(value), actor="test", password=PASSWORD)
                ids.append(created["userId"])
                outcome = "ok"
            elif kind == "role":
                users.set_role(target_id, str(value), actor=actor)
                outcome = "ok"
            else:
                users.set_disabled(target_id, bool(value), actor=actor)
                outcome = "ok"
        except Crash:
            crashed = True
            outcome = "crash"
        except Conflict as exc:
            outcome = str(exc.details["reason"])
        finally:
            crashing.countdown = 0

        now_real, now_guard = real_admins(tables), guard_admins(tables)
        assert now_real, f"step {n}: no enabled Admin left"
        assert now_guard <= now_real, f"step {n}: the guard counts {now_guard - now_real} that are not Admins"
        if not crashed:
            assert now_guard == now_real, f"step {n}: the guard misses {now_real - now_guard}"
        if outcome != "crash":
            assert outcome == _expected(kind, value, prior, actor, before), f"step {n}: {kind} {value}"


def _expected(kind: str, value: object, prior: dict[str, Any], actor: str, admins: set[str]) -> str:
    """What a step must answer, from the state before it (a repaired guard never refuses wrongly)."""
    if kind == "create":
        return "ok"
    after = {**prior, "role": value} if kind == "role" else {**prior, "disabled": value}
    if after == prior:
        return "ok"  # nothing to change
    if actor == prior["userId"] and (
        after["disabled"] is True or ROLES.index(after["role"]) < ROLES.index(prior["role"])
    ):
        return "self"
    if counts_as_admin(prior) and not counts_as_admin(after) and admins == {prior["userId"]}:
        return "last_admin"
    return "ok"


def test_a_crash_between_the_two_writes_of_a_removal_under_counts_then_is_repaired() -> None:
    clock = FakeClock()
    memory = MemoryTables(clock)
    crashing = Crashing(memory["Users"])
    tables = WithUsers(memory, crashing)
    users = service(tables, clock)
    a, _ = users.create("a@example.com", "Admin", actor="test", password=PASSWORD)
    b, _ = users.create("b@example.com", "Admin", actor="test", password=PASSWORD)
    crashing.countdown = 2  # the guard lets b go, then the process dies before b's account is written
    with pytest.raises(Crash):
        users.set_disabled(b["userId"], True, actor=a["userId"])
    assert real_admins(tables) == {a["userId"], b["userId"]}
    assert guard_admins(tables) == {a["userId"]}  # under-counts: the safe side
    # While that removal might still be on its way, the guard will not count b back in...
    with pytest.raises(Conflict) as refused:
        users.set_disabled(a["userId"], True, actor=b["userId"])
    assert refused.value.details["reason"] == "last_admin"
    # ...once it is stale, b is fenced (its stalled write could no longer land) and counted again.
    clock.advance(STALE_REMOVAL_SECONDS + 1)
    users.set_disabled(a["userId"], True, actor=b["userId"])
    assert real_admins(tables) == guard_admins(tables) == {b["userId"]}


def test_a_crash_after_enabling_an_admin_under_counts_then_is_repaired() -> None:
    clock = FakeClock()
    memory = MemoryTables(clock)
    crashing = Crashing(memory["Users"])
    tables = WithUsers(memory, crashing)
    users = service(tables, clock)
    a, _ = users.create("a@example.com", "Admin", actor="test", password=PASSWORD)
    b, _ = users.create("b@example.com", "Operator", actor="test", password=PASSWORD)
    crashing.countdown = 2  # b's account is promoted, then the process dies before the guard hears of it
    with pytest.raises(Crash):
        users.set_role(b["userId"], "Admin", actor=a["userId"])
    assert guard_admins(tables) == {a["userId"]} and real_admins(tables) == {a["userId"], b["userId"]}
    users.set_role(a["userId"], "Viewer", actor=b["userId"])  # repaired from a scan rather than refused
    assert real_admins(tables) == guard_admins(tables) == {b["userId"]}


# ---- the guard item and existing stores --------------------------------------------------------------


def test_a_store_from_before_the_guard_gets_one_built_from_its_admins() -> None:
    clock = FakeClock()
    tables = MemoryTables(clock)
    for n, (role, disabled) in enumerate([("Admin", False), ("Admin", True), ("Operator", False)]):
        # Rows as the previous version wrote them: no rev, no guard.
        tables["Users"].put(
            {
                "userId": f"usr_{n}",
                "kind": "user",
                "email": f"u{n}@example.com",
                "role": role,
                "disabled": disabled,
                "source": "local",
                "createdAt": 1.0,
                "updatedAt": 1.0,
            }
        )
    tables["Users"].put(
        {
            "userId": "cognito-sub",
            "kind": "user",
            "email": "c@example.com",
            "role": "Admin",
            "disabled": False,
            "source": "cognito",
            "createdAt": 1.0,
            "updatedAt": 1.0,
        }
    )
    users = service(tables, clock)
    with pytest.raises(Conflict, match="last Admin"):
        users.set_disabled("usr_0", True, actor="test")
    assert guard_admins(tables) == {"usr_0"}  # the disabled Admin and the Cognito account do not count
    users.set_disabled("usr_1", False, actor="test")
    assert guard_admins(tables) == {"usr_0", "usr_1"}
    assert users.set_role("usr_0", "Viewer", actor="test")["rev"] == 1
    assert real_admins(tables) == guard_admins(tables) == {"usr_1"}


def test_the_guard_is_invisible_to_listings_and_the_email_index(world: World) -> None:
    admin = world.account("Admin", email="root@example.com")
    world.users.create("second@example.com", "Admin", actor="test", password=PASSWORD)
    guard = world.tables["Users"].get({"userId": ADMIN_GUARD_ID})
    assert guard is not None and guard["kind"] == "guard" and "email" not in guard
    listing = world.client.get("/api/users", headers=bearer(admin)).json()
    assert sorted(u["email"] for u in listing["items"]) == ["root@example.com", "second@example.com"]
    assert world.users.list_page().items and all(u["kind"] == "user" for u in world.users.list_page().items)
    with pytest.raises(Exception, match="no user"):
        world.users.get(ADMIN_GUARD_ID)
    assert world.users.count_admins() == 2


def test_first_admin_and_cli_admins_are_counted(world: World) -> None:
    first = world.users.ensure_first_admin()
    assert first is not None
    assert guard_admins(world.tables) == {first[0]["userId"]}
    second, _ = world.users.create("cli@example.com", "Admin", actor="cli", password=PASSWORD)
    assert guard_admins(world.tables) == {first[0]["userId"], second["userId"]}


def test_cognito_sign_ins_stay_out_of_the_guard(world: World) -> None:
    root, _ = world.users.create("root@example.com", "Admin", actor="test", password=PASSWORD)
    world.users.record_external_login("cognito-sub-1", "Boss@Example.com", Role.Admin, 1_764_000_000.0)
    assert world.users.get("cognito-sub-1")["role"] == "Admin"
    assert guard_admins(world.tables) == {root["userId"]}
    # A Cognito Admin row does not make the last local Admin removable...
    with pytest.raises(Conflict, match="last Admin"):
        world.users.set_disabled(root["userId"], True, actor="test")
    # ...and a Cognito sign-in can never rewrite a local account behind the guard's back.
    world.users.record_external_login(root["userId"], "root@example.com", Role.Viewer, 1_764_000_001.0)
    assert world.users.get(root["userId"])["role"] == "Admin"


# ---- nobody disables or demotes themselves -------------------------------------------------------------


def test_an_admin_cannot_disable_themselves_through_the_api(world: World) -> None:
    token = world.account("Admin", email="root@example.com")
    world.users.create("second@example.com", "Admin", actor="test", password=PASSWORD)  # not the last one
    me = world.client.get("/api/me", headers=bearer(token)).json()["userId"]
    reply = world.client.patch(f"/api/users/{me}", json={"disabled": True}, headers=bearer(token))
    assert reply.status_code == 409
    error = reply.json()["error"]
    assert error["details"] == {"reason": "self", "userId": me}
    assert "your own account" in error["message"]
    assert world.users.get(me)["disabled"] is False


def test_an_admin_cannot_demote_themselves_through_the_api(world: World) -> None:
    token = world.account("Admin", email="root@example.com")
    world.users.create("second@example.com", "Admin", actor="test", password=PASSWORD)
    me = world.client.get("/api/me", headers=bearer(token)).json()["userId"]
    reply = world.client.patch(f"/api/users/{me}", json={"role": "Operator"}, headers=bearer(token))
    assert reply.status_code == 409 and reply.json()["error"]["details"]["reason"] == "self"
    assert world.users.get(me)["role"] == "Admin"
    # Re-stating what you already are changes nothing and is fine.
    assert (
        world.client.patch(
            f"/api/users/{me}", json={"role": "Admin", "disabled": False}, headers=bearer(token)
        ).status_code
        == 200
    )


def test_another_admin_can_do_it(world: World) -> None:
    token = world.account("Admin", email="root@example.com")
    second, _ = world.users.create("second@example.com", "Admin", actor="test", password=PASSWORD)
    reply = world.client.patch(
        f"/api/users/{second['userId']}", json={"disabled": True}, headers=bearer(token)
    )
    assert reply.status_code == 200 and reply.json()["disabled"] is True
    me = world.client.get("/api/me", headers=bearer(token)).json()["userId"]
    assert guard_admins(world.tables) == real_admins(world.tables) == {me}
    last = world.client.patch(f"/api/users/{me}", json={"role": "Viewer"}, headers=bearer(token))
    assert last.status_code == 409 and last.json()["error"]["details"]["reason"] == "self"
