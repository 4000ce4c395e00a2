"""Background work of the embedded default: small periodic jobs on daemon threads.

In AWS the same jobs run on a schedule or at a Lambda's start; here one process does it all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("wecare.workers")


class PeriodicWorker:
    """Runs ``job`` every ``interval`` seconds until stopped; a failing run is logged, never fatal.

    With ``repeat_while_busy`` a run that did something (a truthy result: chunks handled) is followed
    at once by the next, so a queue consumer idles only when the queue is empty.
    """

    def __init__(
        self, name: str, job: Callable[[], object], interval: float, *, repeat_while_busy: bool = False
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.name = name
        self._job = job
        self._interval = interval
        self._repeat = repeat_while_busy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name=f"wecare-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> bool:
        """One run; True when it did something (its result was truthy)."""
        try:
            return bool(self._job())
        except Exception:
            log.exception("background job failed", extra={"job": self.name})
            return False
        finally:
            self.runs += 1

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            busy = self.run_once()
            while self._repeat and busy and not self._stop.is_set():
                busy = self.run_once()
