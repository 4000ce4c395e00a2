"""Opt-out (and, only when configured, opt-in) keywords in inbound WhatsApp messages.

A customer who writes STOP must stop receiving WhatsApp messages: the pipeline turns
``optInWhatsApp`` off with a consent record whose evidence is the inbound message. START turns
nothing on unless the deployment explicitly enables it, because consent to be messaged must be
given deliberately, not inferred from one word.

Matching is on the whole message (after trimming, case-folding, collapsing spaces and dropping
surrounding punctuation), so "Please stop calling me at work" is a conversation, not an opt-out.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.inbound.parse import InboundMessage

# The usual carrier opt-out words (CTIA), WhatsApp's own marketing opt-out button text, and spellings
# customers actually send. Leaning towards opting out is the safe side of a compliance gateway.
DEFAULT_STOP = frozenset(
    {
        "stop",
        "stop all",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "opt out",
        "opt-out",
        "optout",
        "stop promotions",
        "revoke",
    }
)
DEFAULT_START = frozenset({"start", "unstop", "subscribe"})

_SPACES = re.compile(r"\s+")
_EDGE = string.punctuation + "\u00a1\u00bf\u2026\u201c\u201d\u2018\u2019 "  # incl. curly quotes

Keyword = Literal["stop", "start"]


def normalise(text: str) -> str:
    return _SPACES.sub(" ", text.casefold()).strip(_EDGE)


@dataclass(frozen=True)
class KeywordConfig:
    stop: frozenset[str] = DEFAULT_STOP
    start: frozenset[str] = DEFAULT_START
    start_opts_in: bool = False  # START re-enables WhatsApp opt-in only when this is switched on

    @classmethod
    def of(
        cls,
        stop: Iterable[str] = DEFAULT_STOP,
        start: Iterable[str] = DEFAULT_START,
        *,
        start_opts_in: bool = False,
    ) -> KeywordConfig:
        stops, starts = frozenset(normalise(w) for w in stop), frozenset(normalise(w) for w in start)
        return cls(stops, starts, start_opts_in)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> KeywordConfig:
        """The keywords a policy bundle's ``params.inbound`` sets (a reviewed change), else the defaults.

        ``inbound: {stopKeywords: [...], startKeywords: [...], startOptsIn: false}``; a list given
        replaces the default list. Anything malformed raises ValueError, so a bad bundle stops start-up.
        """
        section = params.get("inbound", {})
        if not isinstance(section, Mapping):
            raise ValueError("params.inbound must be a mapping")

        def words(name: str, default: frozenset[str]) -> Iterable[str]:
            value = section.get(name)
            if value is None:
                return default
            if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
                raise ValueError(f"params.inbound.{name} must be a list of non-empty strings")
            return value

        opts_in = section.get("startOptsIn", False)
        if not isinstance(opts_in, bool):
            raise ValueError("params.inbound.startOptsIn must be true or false")
        return cls.of(
            words("stopKeywords", DEFAULT_STOP), words("startKeywords", DEFAULT_START), start_opts_in=opts_in
        )


@dataclass(frozen=True)
class KeywordMatch:
    keyword: Keyword
    matched: str  # the normalised text that matched


def classify(message: InboundMessage, config: KeywordConfig) -> KeywordMatch | None:
    """``stop`` / ``start`` when the message is exactly such a keyword, else None."""
    texts = [message.text]
    if message.type == "button":
        texts.append(str(message.content.get("payload", "")))  # quick-reply payloads, e.g. "STOP"
    for raw in texts:
        word = normalise(raw)
        if not word:
            continue
        if word in config.stop:
            return KeywordMatch("stop", word)
        if word in config.start:
            return KeywordMatch("start", word)
    return None
