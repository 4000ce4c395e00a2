"""Policy decision latency for the shipped bundle: the fast closure compiler and cel-python.

Each decision is one ``PolicyEngine.evaluate`` call on a typical input (an opted-in contact
answered in free form inside the 24-hour window: every policy matches, every rule runs), timed
one by one. A mixed run over generated inputs (denials, warnings, malformed documents) is
reported too. Run: ``python -m benchmarks.policy_decision [--decisions N] [--reference N]``.
The last line is one JSON object: ``p50_us``, ``p99_us`` (fast path) and ``celpy_p50_us``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from gateway.policy.engine import PolicyEngine
from gateway.policy.loader import load_bundle

NOW = 1_764_067_200
TYPICAL: dict[str, Any] = {
    "now": NOW,
    "request": {
        "channel": "whatsapp",
        "kind": "text",
        "origin": "api",
        "phoneNumberId": "phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54",
        "bodyLength": 180,
        "templateName": "",
        "approvedBy": "",
    },
    "contact": {
        "found": True,
        "deleted": False,
        "optInWhatsApp": True,
        "optInSms": False,
        "optInEmail": True,
        "hasPhone": True,
        "hasEmail": True,
        "lastInboundMessageAt": NOW - 5400,
    },
    "environment": {"name": "production", "sendMode": "LIVE"},
    "tier": {"limit": 250, "used24h": 37, "opensConversation": False},
}


def _mixed(rng: random.Random) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(TYPICAL))
    doc["request"]["channel"] = rng.choice(("whatsapp", "whatsapp", "sms", "email"))
    doc["request"]["kind"] = {"email": "email", "sms": "text"}.get(
        doc["request"]["channel"], rng.choice(("text", "media", "template"))
    )
    doc["request"]["templateName"] = "order_update" if doc["request"]["kind"] == "template" else ""
    doc["request"]["bodyLength"] = rng.choice((0, 12, 180, 1600, 4097))
    doc["contact"]["optInWhatsApp"] = rng.random() < 0.9
    doc["contact"]["lastInboundMessageAt"] = rng.choice((0, NOW - 5400, NOW - 86400))
    doc["tier"].update(used24h=rng.choice((0, 199, 200, 250)), opensConversation=rng.random() < 0.5)
    if rng.random() < 0.05:
        doc["contact"]["optInSms"] = "yes"  # malformed: fails closed with POLICY_ERROR
    return doc


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1000

    return {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": ordered[-1] / 1000}


def _time(engine: PolicyEngine, documents: list[dict[str, Any]], rounds: int) -> list[int]:
    evaluate = engine.evaluate
    clock = time.perf_counter_ns
    samples = []
    for i in range(rounds):
        doc = documents[i % len(documents)]
        start = clock()
        evaluate(doc)
        samples.append(clock() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=Path, default=Path("policies"))
    parser.add_argument("--decisions", type=int, default=50_000, help="fast-path decisions to time")
    parser.add_argument("--reference", type=int, default=1_000, help="cel-python decisions to time")
    args = parser.parse_args()

    started = time.perf_counter()
    bundle = load_bundle(args.policies)
    load_ms = (time.perf_counter() - started) * 1000
    fast = PolicyEngine(bundle, "fast")
    reference = PolicyEngine(bundle, "celpy")
    assert fast.evaluate(TYPICAL).allowed and reference.evaluate(TYPICAL).allowed

    rng = random.Random(7)
    mixed = [_mixed(rng) for _ in range(1000)]
    _time(fast, [TYPICAL], 5_000)  # warm up
    typical = _percentiles(_time(fast, [TYPICAL], args.decisions))
    varied = _percentiles(_time(fast, mixed, args.decisions))
    _time(reference, [TYPICAL], 50)
    celpy = _percentiles(_time(reference, [TYPICAL], args.reference))
    rules = len(bundle.rules())

    print(
        f"bundle {bundle.name} {bundle.version} ({bundle.digest[:19]}…): {len(bundle.policies)} policies, "
        f"{rules} rules; loaded, compiled and type-checked in {load_ms:.0f} ms"
    )
    print(
        f"fast path, typical input   ({args.decisions} decisions): p50 {typical['p50']:.1f} µs, "
        f"p90 {typical['p90']:.1f} µs, p99 {typical['p99']:.1f} µs, max {typical['max']:.0f} µs"
    )
    print(
        f"fast path, mixed inputs    ({args.decisions} decisions): p50 {varied['p50']:.1f} µs, "
        f"p99 {varied['p99']:.1f} µs"
    )
    print(
        f"cel-python reference       ({args.reference} decisions): p50 {celpy['p50']:.0f} µs, "
        f"p99 {celpy['p99']:.0f} µs"
    )
    print(
        f"fast path is {celpy['p50'] / typical['p50']:.0f}x faster than cel-python at the median; "
        f"one worker decides about {1e6 / typical['p50']:,.0f} messages/s"
    )
    print("target: p50 ≤ 50 µs, p99 ≤ 150 µs")
    print(
        json.dumps(
            {
                "p50_us": round(typical["p50"], 1),
                "p99_us": round(typical["p99"], 1),
                "celpy_p50_us": round(celpy["p50"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
