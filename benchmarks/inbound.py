"""Inbound pipeline throughput and exactly-once under concurrency, on the embedded store.

1. ``events_per_s``: SNS text events (one record per invocation, as the Lambda receives them) ingested
   by one worker into the embedded store (SQLite tables + local queues) with the real contacts service;
   one sender in ten is new, so contact creation is part of the mix.
2. ``duplicates``: four concurrent workers fed the same 10,000 events twice (each event's two copies
   handed to different workers at about the same moment); messages stored beyond one per WhatsApp
   message id. ``missing`` counts events that were stored not at all (should also be 0).

Run: ``python -m benchmarks.inbound [--events N] [--race-events N]``. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from gateway.audit import AuditLog
from gateway.clock import SystemClock
from gateway.contacts.service import ContactService
from gateway.dlq import DlqService
from gateway.inbound.service import InboundService
from gateway.queue.local import LocalQueues
from gateway.store.conditions import eq
from gateway.store.sqlite import SqliteTables

P1_ARN = "arn:aws:social-messaging:us-east-1:809904170947:phone-number-id/baa217c3f11b4ffd956f6f3afb44ce54"


def text_event(n: int, senders: int) -> dict[str, Any]:
    wa_id = f"4478{(12000000 + n % senders):08d}"
    entry = {
        "id": "104870012345678",
        "changes": [
            {
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": "447700900123",
                        "phone_number_id": "110200300400501",
                    },
                    "contacts": [{"profile": {"name": f"Customer {n % senders}"}, "wa_id": wa_id}],
                    "messages": [
                        {
                            "from": wa_id,
                            "id": f"wamid.bench{n:08d}",
                            "timestamp": str(1758186994 + n),
                            "type": "text",
                            "text": {"body": f"Where is order {n}?"},
                        }
                    ],
                },
            }
        ],
    }
    envelope = {
        "context": {
            "MetaWabaIds": [],
            "MetaPhoneNumberIds": [{"metaPhoneNumberId": "110200300400501", "arn": P1_ARN}],
        },
        "whatsAppWebhookEntry": json.dumps(entry),
        "aws_account_id": "809904170947",
        "message_timestamp": "2025-09-18T09:16:36.684321927Z",
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"sns-{n}",
                    "Message": json.dumps(envelope),
                    "TopicArn": "arn:aws:sns:us-east-1:809904170947:base-wecare-digital",
                },
            }
        ]
    }


class Store:
    def __init__(self, path: Path) -> None:
        clock = SystemClock()
        self.tables = SqliteTables(path / "wecare.db", clock)
        self.queues = LocalQueues(path / "queues.db", clock)
        audit = AuditLog(self.tables, clock)
        self.contacts = ContactService(self.tables, clock, audit)
        self.dlq = DlqService(self.tables, self.queues, clock)
        self.clock = clock

    def worker(self) -> InboundService:
        return InboundService(self.tables, self.clock, self.contacts, self.dlq)

    def stored_wamids(self, events: int) -> Counter[str]:
        """Inbound messages stored per WhatsApp message id, asked of the index one id at a time."""
        counts: Counter[str] = Counter()
        for n in range(events):
            wamid = f"wamid.bench{n:08d}"
            page = self.tables["Messages"].query(
                wamid, index="byWhatsappMessageId", filter=eq("direction", "inbound"), limit=10
            )
            if page.items:
                counts[wamid] = len(page.items)
        return counts

    def dead_letters(self) -> int:
        return len(self.tables["DLQMessages"].scan(limit=1000).items)

    def close(self) -> None:
        self.tables.close()
        self.queues.close()


def throughput(events: int) -> dict[str, Any]:
    batch = [text_event(n, senders=max(1, events // 10)) for n in range(events)]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        worker = store.worker()
        cpu_started = time.process_time()
        started = time.perf_counter()
        for event in batch:
            worker.handle_sns_event(event)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        stored = sum(store.stored_wamids(events).values())
        dead = store.dead_letters()
        store.close()
    return {
        "events": events,
        "seconds": elapsed,
        "events_per_s": events / elapsed,
        "stored": stored,
        "dead_lettered": dead,
        "cpu_us_per_event": cpu / events * 1e6,
    }


def race(events: int, workers: int = 4) -> dict[str, Any]:
    batch = [text_event(n, senders=max(1, events // 10)) for n in range(events)]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        # Both copies of an event go on the queue back to back, so two workers take them at once.
        work: queue.Queue[dict[str, Any] | None] = queue.Queue()
        for event in batch:
            work.put(event)
            work.put(event)
        for _ in range(workers):
            work.put(None)
        failures: list[BaseException] = []
        start = threading.Barrier(workers)

        def run(service: InboundService) -> None:
            start.wait()
            while (event := work.get()) is not None:
                try:
                    service.handle_sns_event(event)
                except BaseException as exc:  # reported, never silently lost
                    failures.append(exc)

        threads = [threading.Thread(target=run, args=(store.worker(),)) for _ in range(workers)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        counts = store.stored_wamids(events)
        dead = store.dead_letters()
        store.close()
    return {
        "events": events,
        "deliveries": 2 * events,
        "workers": workers,
        "seconds": elapsed,
        "deliveries_per_s": 2 * events / elapsed,
        "stored": sum(counts.values()),
        "duplicates": sum(c - 1 for c in counts.values()),
        "missing": events - len(counts),
        "dead_lettered": dead,
        "failures": len(failures),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--race-events", type=int, default=10000)
    args = parser.parse_args(argv)
    # Per-event log lines would measure the terminal, not the pipeline; failures show in the counts.
    logging.disable(logging.ERROR)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at start")
    one = throughput(args.events)
    print(
        f"single worker, embedded store: {one['events']} text events in {one['seconds']:.2f} s "
        f"= {one['events_per_s']:.0f} events/s (target >= 2000); stored {one['stored']}, "
        f"dead-lettered {one['dead_lettered']}"
    )
    # Wall-clock throughput falls with machine load; the CPU an event costs does not.
    print(
        f"  CPU per event {one['cpu_us_per_event']:.0f} us (a ceiling of "
        f"{1e6 / one['cpu_us_per_event']:.0f}/s for one worker on an otherwise idle core)"
    )
    four = race(args.race_events)
    print(
        f"{four['workers']} workers, the same {four['events']} events twice "
        f"({four['deliveries']} deliveries) in {four['seconds']:.2f} s = "
        f"{four['deliveries_per_s']:.0f} deliveries/s; stored {four['stored']}, "
        f"duplicates {four['duplicates']} (target 0), missing {four['missing']}, "
        f"dead-lettered {four['dead_lettered']}, failures {four['failures']}"
    )
    print(json.dumps({"events_per_s": round(one["events_per_s"]), "duplicates": four["duplicates"]}))
    return 0 if four["duplicates"] == 0 and four["missing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
