"""Login throttling per account and per client: repeated failures slow down, then lock for a while.

State is kept in process memory: the embedded identity runs in one process, and a restart forgetting
recent failures is acceptable there. (With Cognito, sign-in and its throttling are Cognito's.)

Rules (defaults in :class:`ThrottlePolicy`):

* per account (the e-mail as typed, case-folded; unknown accounts are tracked the same way, so the
  throttle reveals nothing about which accounts exist): the first ``free`` failures cost nothing; then
  each attempt must wait ``2 ** (n - free)`` seconds after the last failure (at most ``max_delay``);
  the ``lock_after``-th failure locks the account for ``lock_seconds``, after which counting starts
  again. A successful sign-in clears the account. A waiting or locked account is refused *before*
  its password is checked (:meth:`LoginThrottle.check_account`), so guessing one account does not
  continue during a wait, and even its right password waits.
* per client address: the same scheme with higher thresholds, but it paces *failures* only. Many
  people share one address (an office behind a NAT), so an address over its pace must not refuse
  someone else's right password: every attempt from it is still checked, a wrong one is answered 429
  (with the address's wait) instead of 401, a right one for an account that is not itself throttled
  signs in. Success does not clear the address, so one good account cannot launder guesses against
  others.

Failures older than ``window_seconds`` are forgotten.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from gateway.auth.errors import LoginThrottled
from gateway.clock import Clock


@dataclass(frozen=True)
class Rule:
    free: int
    lock_after: int
    max_delay: float
    lock_seconds: float


@dataclass(frozen=True)
class ThrottlePolicy:
    account: Rule = field(
        default_factory=lambda: Rule(free=3, lock_after=10, max_delay=60.0, lock_seconds=900.0)
    )
    client: Rule = field(
        default_factory=lambda: Rule(free=20, lock_after=100, max_delay=60.0, lock_seconds=900.0)
    )
    window_seconds: float = 900.0
    max_keys: int = 100_000


class LoginThrottle:
    def __init__(self, clock: Clock, policy: ThrottlePolicy | None = None) -> None:
        self._clock = clock
        self.policy = policy or ThrottlePolicy()
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check_account(self, account: str) -> None:
        """Raise :class:`LoginThrottled` (scope ``account``) when the account must wait or is locked."""
        now = self._clock.now()
        with self._lock:
            wait = self._wait(self._akey(account), self.policy.account, now)
        if wait > 0:
            raise LoginThrottled(
                "too many failed sign-in attempts; try again later", retry_after=wait, scope="account"
            )

    def client_wait(self, client: str) -> float:
        """Seconds before this address may fail again without being answered 429 (0: within its pace)."""
        now = self._clock.now()
        with self._lock:
            return self._wait(self._ckey(client), self.policy.client, now)

    def failure(self, account: str, client: str) -> None:
        now = self._clock.now()
        with self._lock:
            if len(self._failures) >= self.policy.max_keys:
                self._prune(now)
            for key, rule in (
                (self._akey(account), self.policy.account),
                (self._ckey(client), self.policy.client),
            ):
                times = self._recent(key, now)
                times.append(now)
                if len(times) >= rule.lock_after:
                    # Locked: the count starts again from zero once the lock has passed.
                    self._locked_until[key] = now + rule.lock_seconds
                    times = []
                self._failures[key] = times

    def success(self, account: str) -> None:
        with self._lock:
            self._failures.pop(self._akey(account), None)
            self._locked_until.pop(self._akey(account), None)

    def failures(self, account: str) -> int:
        with self._lock:
            return len(self._recent(self._akey(account), self._clock.now()))

    @staticmethod
    def _akey(account: str) -> str:
        return "a:" + account.strip().casefold()

    @staticmethod
    def _ckey(client: str) -> str:
        return "c:" + (client or "unknown")

    def _recent(self, key: str, now: float) -> list[float]:
        horizon = now - self.policy.window_seconds
        return [t for t in self._failures.get(key, ()) if t > horizon]

    def _wait(self, key: str, rule: Rule, now: float) -> float:
        locked = self._locked_until.get(key, 0.0) - now
        if locked > 0:
            return locked
        times = self._recent(key, now)
        count = len(times)
        if count < rule.free:
            return 0.0
        delay = min(float(2 ** (count - rule.free)), rule.max_delay)
        return max(0.0, times[-1] + delay - now)

    def _prune(self, now: float) -> None:
        horizon = now - self.policy.window_seconds
        for key in [k for k, times in self._failures.items() if not times or times[-1] <= horizon]:
            del self._failures[key]
        for key in [k for k, until in self._locked_until.items() if until <= now]:
            del self._locked_until[key]
