"""Validation and normalisation of contact fields: phone → E.164 (``phonenumbers``), e-mail
(``email-validator``), name, opt-in flags. Pure functions; errors are :class:`InvalidInput`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from gateway.errors import InvalidInput

Channel = Literal["whatsapp", "sms", "email"]
OPT_IN_FIELDS: Mapping[Channel, str] = {"whatsapp": "optInWhatsApp", "sms": "optInSms", "email": "optInEmail"}
CHANNEL_OF_FIELD: Mapping[str, Channel] = {v: k for k, v in OPT_IN_FIELDS.items()}
CONSENT_SOURCES = frozenset({"api", "ui", "inbound_keyword", "import", "inbound_first_contact"})
CLIENT_SOURCES = frozenset({"api", "ui", "import"})  # what an API caller may claim as the source
NAME_MAX = 200
EVIDENCE_MAX = 2000

_TRUNK_IN_BRACKETS = re.compile(r"\(\s*0\s*\)")  # "+44 (0)7812 …": the (0) is not dialled internationally


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"field": field})


@dataclass(frozen=True)
class Phone:
    e164: str  # "+447812345678"
    country_code: str  # "44"
    national_number: str  # "7812345678": the national significant number, without any trunk prefix


def normalise_phone(raw: object, default_region: str | None = None) -> str:
    """E.164 (``+447812345678``) of a number typed with or without ``+``/``00`` and country code."""
    return parse_phone(raw, default_region).e164


def parse_phone(raw: object, default_region: str | None = None) -> Phone:
    """The number (E.164 and its parts) from a number typed with or without ``+``/``00`` and country
    code.

    Without a country code the number is read in ``default_region`` when one is configured; digits
    that are not valid there are tried as an international number (``447812345678``).
    """
    if not isinstance(raw, str) or not raw.strip():
        raise _invalid("phone", "phone must be a non-empty string")
    return _parse_phone_text(raw, default_region)


@lru_cache(maxsize=4096)
def _parse_phone_text(raw: str, default_region: str | None) -> Phone:
    # Cached: the inbound pipeline parses a sender's number on every message (lookup, then create),
    # and phonenumbers costs tens of microseconds a call. Errors are raised, never cached.
    text = _TRUNK_IN_BRACKETS.sub("", raw.strip())
    if len(text) > 40 or re.search(r"[A-Za-z]", text):
        raise _invalid("phone", "phone must be a telephone number, e.g. +447812345678")
    digits = re.sub(r"\D", "", text)
    candidates: list[tuple[str, str | None]] = []
    if text.startswith("+"):
        candidates.append(("+" + digits, None))
    elif digits.startswith("00"):
        candidates.append(("+" + digits[2:], None))
    else:
        if default_region:
            candidates.append((digits, default_region))
        candidates.append(("+" + digits, None))
    for number, region in candidates:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return _phone(parsed)
    hint = "" if default_region else " including the country code"
    raise _invalid("phone", f"{raw!r} is not a valid phone number; give it{hint}, e.g. +447812345678")


def _phone(parsed: phonenumbers.PhoneNumber) -> Phone:
    national = phonenumbers.national_significant_number(parsed)
    return Phone(f"+{parsed.country_code}{national}", str(parsed.country_code), national)


def phone_parts(e164: str) -> Phone:
    """The parts of a stored E.164 number."""
    return _phone(phonenumbers.parse(e164, None))


def is_country_code(digits: str) -> bool:
    if not digits.isdigit() or digits.startswith("0"):
        return False
    return int(digits) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE


# Trunk prefixes dialled before a national number somewhere in the world (from the library's metadata:
# "0" in most countries, "1" and "8" in a few, "06" in Hungary); a test keeps this list in step with it.
TRUNK_PREFIXES = ("0", "06", "1", "8")


def normalise_email(raw: object) -> str:
    """The address as given (trimmed, domain normalised by the validator); raises on an invalid one."""
    if not isinstance(raw, str) or not raw.strip():
        raise _invalid("email", "email must be a non-empty string")
    try:
        valid = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise _invalid("email", f"not a valid e-mail address: {exc}") from None
    return valid.normalized


def email_key(email: str) -> str:
    """The form two addresses are compared in (uniqueness, search): case-folded."""
    return email.strip().lower()


# Bidirectional embeddings, overrides and isolates: invisible, and they reorder what follows them, so a
# name could display as something else (a name is shown beside every message and in every list).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _refused_character(name: str) -> str | None:
    for ch in name:
        if ch in BIDI_CONTROLS or unicodedata.category(ch) == "Cc":
            return ch
    return None


def validate_name(raw: object) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise _invalid("name", "name must be a string")
    name = " ".join(raw.split())
    refused = _refused_character(name)
    if refused is not None:
        kind = "a bidirectional control" if refused in BIDI_CONTROLS else "a control character"
        raise _invalid("name", f"name contains {kind} (U+{ord(refused):04X}); remove it")
    if len(name) > NAME_MAX:
        raise _invalid("name", f"name is at most {NAME_MAX} characters")
    return name


def clean_name(raw: str) -> str:
    """A name from outside (a WhatsApp profile) with the characters :func:`validate_name` refuses
    dropped: such a name is not the sender's mistake, and the message must still be stored."""
    return "".join(ch for ch in raw if ch not in BIDI_CONTROLS and unicodedata.category(ch) != "Cc")


def validate_opt_in(field: str, raw: object) -> bool:
    # Consent is never inferred: only a real JSON boolean counts ("true", 1 or null are refused).
    if not isinstance(raw, bool):
        raise _invalid(field, f"{field} must be true or false")
    return raw


def validate_source(raw: object, *, allowed: frozenset[str] = CONSENT_SOURCES) -> str:
    if not isinstance(raw, str) or raw not in allowed:
        raise InvalidInput(f"source must be one of {', '.join(sorted(allowed))}", details={"field": "source"})
    return raw


def validate_evidence(raw: object) -> dict[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"note": raw}
    if not isinstance(raw, Mapping):
        raise _invalid("consentEvidence", "consentEvidence must be a string or an object")
    if len(repr(raw)) > EVIDENCE_MAX:
        raise _invalid("consentEvidence", f"consentEvidence is at most {EVIDENCE_MAX} characters")
    return dict(raw)
