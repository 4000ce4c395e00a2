"""Hypothesis strategies for policy inputs: well-typed documents around every boundary of the
shipped bundle, and corrupted ones (missing fields, wrong types, overflowing numbers)."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import strategies as st

from .conftest import NOW

ALLOWLIST = (
    "phone-number-id-baa217c3f11b4ffd956f6f3afb44ce54",
    "phone-number-id-1447bc72d1b040f4bf2341c9e04b2e06",
)
DAY = 86_400
INT64_MAX = 2**63 - 1

lengths = st.one_of(
    st.sampled_from([0, 1, 12, 1023, 1024, 1025, 1599, 1600, 1601, 4095, 4096, 4097]), st.integers(0, 100_000)
)


@st.composite
def tiers(draw: st.DrawFn) -> dict[str, Any]:
    limit = draw(st.one_of(st.sampled_from([0, 1, 250, 1000]), st.integers(0, 10_000)))
    used = draw(
        st.one_of(
            st.sampled_from(
                [
                    0,
                    limit * 79 // 100,
                    limit * 80 // 100,
                    (limit * 80 + 99) // 100,
                    limit - 1,
                    limit,
                    limit + 1,
                ]
            ),
            st.integers(0, 20_000),
        )
    )
    return {"limit": limit, "used24h": max(used, 0), "opensConversation": draw(st.booleans())}


@st.composite
def well_typed_inputs(draw: st.DrawFn) -> dict[str, Any]:
    now = draw(st.one_of(st.just(NOW), st.integers(DAY, 2_000_000_000)))
    gap = draw(st.one_of(st.sampled_from([0, 1, DAY - 1, DAY, DAY + 1]), st.integers(0, 3 * DAY)))
    never = draw(st.booleans())
    return {
        "now": now,
        "request": {
            "channel": draw(st.sampled_from(["whatsapp", "whatsapp", "sms", "email", "fax"])),
            "kind": draw(st.sampled_from(["text", "text", "media", "template", "email", "sticker"])),
            "origin": draw(st.sampled_from(["api", "bulk", "ai", "robot"])),
            "phoneNumberId": draw(
                st.sampled_from([*ALLOWLIST, "", "phone-number-id-x", ALLOWLIST[0].upper()])
            ),
            "bodyLength": draw(lengths),
            "templateName": draw(st.sampled_from(["", "order_update"])),
            "approvedBy": draw(st.sampled_from(["", "   ", "usr_1", "\t"])),
        },
        "contact": {
            "found": draw(st.booleans()),
            "deleted": draw(st.booleans()),
            "optInWhatsApp": draw(st.booleans()),
            "optInSms": draw(st.booleans()),
            "optInEmail": draw(st.booleans()),
            "hasPhone": draw(st.booleans()),
            "hasEmail": draw(st.booleans()),
            "lastInboundMessageAt": 0 if never else max(now - gap, 0),
        },
        "environment": {
            "name": draw(st.sampled_from(["production", "staging", "preview", "local", "prod"])),
            "sendMode": draw(st.sampled_from(["LIVE", "DRY_RUN", "live"])),
        },
        "tier": draw(tiers()),
    }


_WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([INT64_MAX, 2**64, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


@st.composite
def corrupted_inputs(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(draw(well_typed_inputs()))
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(doc)))
        action = draw(
            st.sampled_from(["delete-field", "wrong-type", "delete-section", "float-time", "extra"])
        )
        if action == "delete-section":
            doc.pop(section, None)
        elif action == "extra":
            doc[draw(st.sampled_from(["x", "params", "variables"]))] = draw(_WRONG)
        elif action == "float-time":
            now = doc.get("now")
            base = now if isinstance(now, int | float) and not isinstance(now, bool) else NOW
            doc["now"] = float(base) + draw(st.floats(0, 1, exclude_max=True))
        elif isinstance(doc.get(section), dict) and doc[section]:
            field = draw(st.sampled_from(sorted(doc[section])))
            if action == "delete-field":
                del doc[section][field]
            else:
                doc[section][field] = draw(_WRONG)
        else:
            doc[section] = draw(_WRONG)
    return doc


policy_inputs = st.one_of(well_typed_inputs(), well_typed_inputs(), corrupted_inputs())


def comparable(decision: dict[str, Any]) -> dict[str, Any]:
    """A decision minus the evaluator's own wording of errors (the only part allowed to differ)."""
    out = copy.deepcopy(decision)
    for violation in out["violations"]:
        violation.pop("error", None)
    return out


# ---- a cheaper generator for the 10,000-input differential run ------------------------------
# Hypothesis draws one seeded Random per example and this builds the document from it: the same
# value pools and boundaries as above at a fraction of the generation cost (cel-python, the
# reference, is slow enough on its own).

_LENGTHS = (0, 1, 12, 1023, 1024, 1025, 1599, 1600, 1601, 4095, 4096, 4097)
_WRONG_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    -1,
    0,
    3,
    INT64_MAX,
    2**64,
    -(2**63) - 1,
    0.5,
    float("nan"),
    float("inf"),
    "",
    "yes",
    "1",
    [],
    [1],
    {},
    {"a": 1},
)


def random_input(rng: random.Random) -> dict[str, Any]:
    now = NOW if rng.random() < 0.5 else rng.randint(DAY, 2_000_000_000)
    gap = rng.choice((0, 1, DAY - 1, DAY, DAY + 1)) if rng.random() < 0.5 else rng.randint(0, 3 * DAY)
    limit = rng.choice((0, 1, 250, 1000)) if rng.random() < 0.7 else rng.randint(0, 10_000)
    used = (
        rng.choice(
            (0, limit * 79 // 100, limit * 80 // 100, (limit * 80 + 99) // 100, limit - 1, limit, limit + 1)
        )
        if rng.random() < 0.7
        else rng.randint(0, 20_000)
    )
    doc: dict[str, Any] = {
        "now": now,
        "request": {
            "channel": rng.choice(("whatsapp", "whatsapp", "sms", "email", "fax")),
            "kind": rng.choice(("text", "text", "media", "template", "email", "sticker")),
            "origin": rng.choice(("api", "bulk", "ai", "robot")),
            "phoneNumberId": rng.choice((*ALLOWLIST, "", "phone-number-id-x", ALLOWLIST[0].upper())),
            "bodyLength": rng.choice(_LENGTHS) if rng.random() < 0.6 else rng.randint(0, 100_000),
            "templateName": rng.choice(("", "order_update")),
            "approvedBy": rng.choice(("", "   ", "usr_1", "\t")),
        },
        "contact": {
            "found": rng.random() < 0.9,
            "deleted": rng.random() < 0.1,
            "optInWhatsApp": rng.random() < 0.8,
            "optInSms": rng.random() < 0.8,
            "optInEmail": rng.random() < 0.8,
            "hasPhone": rng.random() < 0.9,
            "hasEmail": rng.random() < 0.9,
            "lastInboundMessageAt": 0 if rng.random() < 0.2 else max(now - gap, 0),
        },
        "environment": {
            "name": rng.choice(("production", "production", "staging", "preview", "local", "prod")),
            "sendMode": rng.choice(("LIVE", "DRY_RUN", "DRY_RUN", "live")),
        },
        "tier": {"limit": limit, "used24h": max(used, 0), "opensConversation": rng.random() < 0.5},
    }
    if rng.random() < 0.3:
        for _ in range(rng.randint(1, 3)):
            _corrupt(rng, doc)
    return doc


def _corrupt(rng: random.Random, doc: dict[str, Any]) -> None:
    section = rng.choice(sorted(doc)) if doc else "now"
    action = rng.choice(("delete-field", "wrong-type", "delete-section", "float-time", "extra"))
    if action == "delete-section":
        doc.pop(section, None)
    elif action == "extra":
        doc[rng.choice(("x", "params", "variables"))] = rng.choice(_WRONG_VALUES)
    elif action == "float-time":
        now = doc.get("now")
        base = now if isinstance(now, int | float) and not isinstance(now, bool) else NOW
        doc["now"] = float(base) + rng.random()
    elif isinstance(doc.get(section), dict) and doc[section]:
        field = rng.choice(sorted(doc[section]))
        if action == "delete-field":
            del doc[section][field]
        else:
            doc[section][field] = rng.choice(_WRONG_VALUES)
    else:
        doc[section] = rng.choice(_WRONG_VALUES)


cheap_policy_inputs = st.randoms(use_true_random=False).map(random_input)
