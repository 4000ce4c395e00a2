"""The policy input document: what every rule sees (DESIGN "Policy input document").

One declaration serves three purposes: the pydantic models validate documents at the API edge
(``POST /api/policies/evaluate`` answers 422 naming the field), :data:`INPUT_TYPES` lets the
linter type-check every expression against the fields that exist, and :func:`normalize`
prepares a document for evaluation.

``normalize`` is how fail-closed holds for malformed input: a field of the wrong type is
treated as absent (so every rule that reads it errors and denies with ``POLICY_ERROR``), never
coerced into something a rule could read as consent. Times may arrive as floats and are
truncated to whole seconds; unknown fields are dropped because no rule may read them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from gateway.policy.cel.values import INT64_MAX, INT64_MIN

EpochSeconds = Union[StrictInt, StrictFloat]  # noqa: UP007 - pydantic reads this at run time


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RequestInput(_Strict):
    channel: Literal["whatsapp", "sms", "email"]
    kind: Literal["text", "media", "template", "email"]
    origin: Literal["api", "bulk", "ai"]
    phoneNumberId: StrictStr = ""
    bodyLength: StrictInt = Field(ge=0, description="code points of the text, caption or email text body")
    templateName: StrictStr = ""
    approvedBy: StrictStr = ""


class ContactInput(_Strict):
    found: StrictBool
    deleted: StrictBool
    optInWhatsApp: StrictBool
    optInSms: StrictBool
    optInEmail: StrictBool
    hasPhone: StrictBool
    hasEmail: StrictBool
    lastInboundMessageAt: EpochSeconds = Field(ge=0, description="0 = never wrote to us")
    whatsappUnreachable: StrictBool = Field(
        default=False,
        json_schema_extra={"addedIn": "1.1.0"},
        description="Meta reported the number not on WhatsApp (error 131026); cleared when they write to us",
    )


class EnvironmentInput(_Strict):
    name: Literal["production", "staging", "preview", "local"]
    sendMode: Literal["LIVE", "DRY_RUN"]
    paused: StrictBool = Field(
        default=False,
        description="an Admin paused sending on this channel (the kill switch, SystemConfig sending.paused)",
        json_schema_extra={"addedIn": "1.2.0"},
    )


class TierInput(_Strict):
    limit: StrictInt = Field(ge=0)
    used24h: StrictInt = Field(ge=0)
    opensConversation: StrictBool


class PolicyInput(_Strict):
    now: EpochSeconds = Field(ge=0)
    request: RequestInput
    contact: ContactInput
    environment: EnvironmentInput
    tier: TierInput


# ---- the type schema the linter and normalizer use --------------------------------------------

CelTypeName = Literal["int", "bool", "string"]


def _cel_type(annotation: Any) -> CelTypeName:
    if annotation is EpochSeconds or get_origin(annotation) is Union:
        return "int"  # normalize() truncates epoch seconds to whole seconds
    if get_origin(annotation) is Literal:
        return "string"
    base = get_args(annotation)[0] if get_args(annotation) else annotation
    if base is bool or annotation is StrictBool:
        return "bool"
    if base is int or annotation is StrictInt:
        return "int"
    return "string"


def _fields(model: type[BaseModel]) -> dict[str, CelTypeName]:
    return {name: _cel_type(info.annotation) for name, info in model.model_fields.items()}


#: ``{"now": "int", "request": {"channel": "string", …}, …}``
def _section_or_scalar(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _fields(annotation)
    return _cel_type(annotation)


INPUT_TYPES: dict[str, Any] = {
    name: _section_or_scalar(info.annotation) for name, info in PolicyInput.model_fields.items()
}

#: Input names a policy expression may use besides ``params`` and ``variables``.
INPUT_NAMES = frozenset(INPUT_TYPES)

_TIME_FIELDS = frozenset({("now",), ("contact", "lastInboundMessageAt")})
_PYTYPE = {"int": int, "bool": bool, "string": str}
_SECTIONS: dict[str, dict[str, type]] = {
    name: {f: _PYTYPE[t] for f, t in spec.items()}
    for name, spec in INPUT_TYPES.items()
    if isinstance(spec, dict)
}
_SCALARS: dict[str, type] = {name: _PYTYPE[t] for name, t in INPUT_TYPES.items() if isinstance(t, str)}

# Fields added to the input after its first version (marked ``addedIn``) carry a default, so a
# document written before them (a stored policyInput replayed, an API caller not yet updated) still
# evaluates as it did: the default is filled in, no rule errors on a field it could not have known.
# Other fields are never defaulted: a missing one stays missing, and a rule reading it fails closed.
_DEFAULTS: dict[str, dict[str, Any]] = {}
for _name, _info in PolicyInput.model_fields.items():
    if isinstance(_info.annotation, type) and issubclass(_info.annotation, BaseModel):
        for _field, _spec in _info.annotation.model_fields.items():
            extra = _spec.json_schema_extra
            if isinstance(extra, dict) and "addedIn" in extra:
                _DEFAULTS.setdefault(_name, {})[_field] = _spec.default


def _conforms(doc: Mapping[str, Any]) -> bool:
    if type(doc) is not dict:
        return False
    for name, defaults in _DEFAULTS.items():
        present = doc.get(name)
        if type(present) is dict and not present.keys() >= defaults.keys():
            return False  # a default to fill in
    sections = _SECTIONS
    for key, value in doc.items():
        section = sections.get(key)
        if section is not None:
            if type(value) is not dict:
                return False
            for field, item in value.items():
                expected = section.get(field)
                if expected is None or type(item) is not expected:
                    return False
                if expected is int and not INT64_MIN <= item <= INT64_MAX:  # type: ignore[operator]
                    return False
            continue
        expected = _SCALARS.get(key)
        if expected is None or type(value) is not expected:
            return False
        if expected is int and not INT64_MIN <= value <= INT64_MAX:  # type: ignore[operator]
            return False
    return True


def normalize(doc: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The document ready for evaluation, and a note for every field that was dropped or changed.

    A conforming document is returned as it is (no copy): this runs on every decision.
    """
    if _conforms(doc):
        return doc, ()  # type: ignore[return-value]
    problems: list[str] = []
    out: dict[str, Any] = {}
    if not isinstance(doc, Mapping):
        return out, (f"the policy input must be an object, got {type(doc).__name__}",)
    for key, value in doc.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                problems.append(f"{key}: expected an object, got {_kind(value)}; treated as missing")
                continue
            section: dict[str, Any] = {}
            for field, item in value.items():
                expected = _SECTIONS[key].get(field)
                if expected is None:
                    problems.append(f"{key}.{field}: unknown field; ignored")
                    continue
                fixed = _fix(item, expected, (key, field), problems)
                if fixed is not _DROP:
                    section[field] = fixed
            out[key] = _with_defaults(key, section)
        elif key in _SCALARS:
            fixed = _fix(value, _SCALARS[key], (key,), problems)
            if fixed is not _DROP:
                out[key] = fixed
        else:
            problems.append(f"{key}: unknown field; ignored")
    return out, tuple(problems)


_DROP = object()


def _with_defaults(name: str, section: dict[str, Any]) -> dict[str, Any]:
    for field, default in _DEFAULTS.get(name, {}).items():
        section.setdefault(field, default)
    return section


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _fix(value: Any, expected: type, path: tuple[str, ...], problems: list[str]) -> Any:
    name = ".".join(path)
    if type(value) is expected:
        if expected is int and not INT64_MIN <= value <= INT64_MAX:  # type: ignore[operator]
            problems.append(f"{name}: {value} is out of the int64 range; treated as missing")
            return _DROP
        return value
    if (
        expected is int
        and type(value) is float
        and path in _TIME_FIELDS
        and math.isfinite(value)
        and abs(value) < 9.2e18
    ):
        return math.floor(value)
    want = {int: "an integer", bool: "a boolean", str: "a string"}[expected]
    problems.append(f"{name}: expected {want}, got {_kind(value)}; treated as missing")
    return _DROP
