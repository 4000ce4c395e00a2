"""Contacts at scale in the embedded store: 100,000 contacts created through the service layer, then
search latency by name fragment (any word of a name), by e-mail and by phone as a person types it.

Run: ``python -m benchmarks.contacts [--contacts N] [--queries Q]``. The last line is one JSON object:
``search_name_p95_ms``, ``search_email_p95_ms``, ``search_phone_p95_ms``, ``create_per_s``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.audit import AuditLog
from gateway.clock import SystemClock
from gateway.contacts.service import ContactService
from gateway.errors import Conflict, InvalidInput
from gateway.store.sqlite import SqliteTables

_FIRST_NAMES = """
Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Willow Freya Florence Emily Ella
Poppy Evie Elsie Charlotte Evelyn Sienna Sofia Daisy Jasmine Harper Matilda Ruby Lucy Alice Noah
Muhammad Oliver George Leo Arthur Oscar Harry Archie Jack Henry Charlie Freddie Theodore Thomas
Finley Theo Alfie Jacob William Isaac Tommy Lucas Elijah Arlo James Roman Mohammed Edward Joshua
Priya Aarav Saanvi Vivaan Ananya Diya Arjun Ishaan Kavya Rohan Zara Omar Yusuf Aisha Fatima
Hannah Sean Siobhan Niamh Ciaran Aoife Eoin Lukas Leonie Jonas Lena Mateo Lucia Hugo Chloe
Camille Louis José Zoë Chloé Renée Søren Björn Łukasz Ümit
"""
_SURNAMES = """
Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson
Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner
Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott
Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson
Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams
Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell
Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens
Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews
Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson
Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose Booth Perry Ryan Grant Wells
Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe Page
Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins Harding Porter Robertson Newton
Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane Cooke Bates Henderson Parry Burgess
Bishop Walton Burns Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls Hamilton Byrne
Sutton McDonald Yates Hodgson Robson Curtis Hopkins O'Connor Harper Coleman Watkins Moss
McCarthy Chambers O'Neill Griffin Sharp Hardy Wheeler Potter Osborne Johnston Gordon Doyle
Wallace George Jordan Hutchinson Rowe Burke May Pritchard Gilbert Willis Higgins Read Miles
Stevenson Stephenson Hammond Arnold Buckley Walters Hewitt Barber Nelson Slater Austin Sullivan
Whitehead Mann Frost Lambert Stephens Blake Akhtar Lynch Goodwin Barton Woodward Thomson
Cunningham Quinn Barnett Baxter Bibi Clayton Nash Greenwood Jennings Holt Kemp Poole Gallagher
Bond Stokes Tucker Davidson Fowler Heath Norman Middleton Lawson Banks French Stanley Jarvis
Gibbs Ferguson Hayward Carroll Douglas Dickinson Todd Barlow Peters Lucas Knowles Hartley Miah
Simmons Morton Alexander Field Morrison Norris Townsend Preston Hancock Thornton Baldwin Burrows
Briggs Storey Pope Schmidt Müller Schneider Fischer García Martínez López González Rossi Russo
Dubois Lefèvre Nowak Kowalski
"""
FIRST = tuple(_FIRST_NAMES.split())
LAST = tuple(_SURNAMES.split())
DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "post.example")


def _contact(rnd: random.Random, n: int, used: set[str]) -> dict[str, Any]:
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    name = f"{first} {last}" if rnd.random() < 0.85 else f"{first} {rnd.choice(FIRST)} {last}"
    while True:
        phone = "+447" + rnd.choice("789") + "".join(rnd.choice("0123456789") for _ in range(8))
        if phone not in used:
            used.add(phone)
            break
    local = f"{first}.{last}".lower().replace("'", "")
    email = f"{local}{n}@{rnd.choice(DOMAINS)}"
    return {"name": name, "phone": phone, "email": email}


def _as_typed(phone: str, rnd: random.Random) -> str:
    """The number as a person might type it."""
    national = "0" + phone[3:]
    style = rnd.randrange(6)
    if style == 0:
        return phone
    if style == 1:
        return f"+44 {phone[3:7]} {phone[7:]}"
    if style == 2:
        return f"{national[:5]} {national[5:]}"
    if style == 3:
        return f"{national[:5]}-{national[5:8]}-{national[8:]}"
    if style == 4:
        return phone[1:]
    return f"0044 {phone[3:7]} {phone[7:]}"


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _time_queries(
    service: ContactService, queries: list[str], check: Callable[[int, list[dict[str, Any]]], bool]
) -> tuple[list[float], int]:
    timings: list[float] = []
    misses = 0
    for i, query in enumerate(queries):
        start = time.perf_counter()
        page = service.search(query, limit=20)
        timings.append((time.perf_counter() - start) * 1000.0)
        if not check(i, page.items):
            misses += 1
    return timings, misses


def run(count: int, query_count: int, directory: Path) -> dict[str, float]:
    clock = SystemClock()
    tables = SqliteTables(directory / "wecare.db", clock)
    try:
        service = ContactService(tables, clock, AuditLog(tables, clock))
        rnd = random.Random(20251125)
        used: set[str] = set()
        people = [_contact(rnd, n, used) for n in range(count)]
        created: list[dict[str, Any]] = []
        refused = 0
        start = time.perf_counter()
        for person in people:
            try:
                created.append(service.create(person, actor="benchmark", source="import"))
            except (InvalidInput, Conflict):
                refused += 1  # a generated number outside the valid ranges
            if len(created) % 20_000 == 0 and created:
                rate = len(created) / (time.perf_counter() - start)
                print(f"  {len(created):>7,} contacts created ({rate:,.0f}/s so far)", file=sys.stderr)
        create_seconds = time.perf_counter() - start
        create_per_s = len(created) / create_seconds

        sample = [
            {k: c[k] for k in ("contactId", "name", "email", "phone")}
            for c in (rnd.choice(created) for _ in range(query_count))
        ]
        name_queries = [rnd.choice(c["name"].split()) for c in sample]
        email_queries = [c["email"] for c in sample]
        phone_queries = [_as_typed(c["phone"], rnd) for c in sample]
        # This process holds 100,000 generated contacts only to create them; a server holds none. Drop
        # them and freeze what is left, so the timings do not include collecting the benchmark's own heap.
        count_created = len(created)
        del people, created, used
        gc.collect()
        gc.freeze()

        for q in name_queries[:50] + email_queries[:50] + phone_queries[:50]:
            service.search(q, limit=20)  # warm the page cache the way a running server would be

        def found(i: int, items: list[dict[str, Any]]) -> bool:
            return any(item["contactId"] == sample[i]["contactId"] for item in items)

        name_ms, _ = _time_queries(service, name_queries, lambda i, items: bool(items))
        email_ms, email_misses = _time_queries(service, email_queries, found)
        phone_ms, phone_misses = _time_queries(service, phone_queries, found)
    finally:
        tables.close()

    print(
        f"contacts created through ContactService on SQLite: {count_created:,} in {create_seconds:.1f} s "
        f"= {create_per_s:,.0f}/s ({refused} generated numbers refused as invalid)"
    )
    for label, samples in (("name fragment", name_ms), ("e-mail", email_ms), ("phone as typed", phone_ms)):
        print(
            f"search by {label:<15} p50 {statistics.median(samples):6.2f} ms   "
            f"p95 {_percentile(samples, 95):6.2f} ms   max {max(samples):7.2f} ms   "
            f"({len(samples)} queries)"
        )
    print(
        f"misses: e-mail {email_misses}, phone {phone_misses} "
        "(each query's contact must be on its first page)"
    )
    return {
        "search_name_p95_ms": round(_percentile(name_ms, 95), 3),
        "search_email_p95_ms": round(_percentile(email_ms, 95), 3),
        "search_phone_p95_ms": round(_percentile(phone_ms, 95), 3),
        "create_per_s": round(create_per_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contacts", description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="contacts-bench-") as tmp:
        figures = run(args.contacts, args.queries, Path(tmp))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
