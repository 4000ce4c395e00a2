"""Items as JSON text for the embedded store: written at orjson's speed with the standard library's
strictness, read by the standard library.

Every SQLite write encodes an item; at bulk rates encoding was a fifth of the time the bulk workers
held the GIL (a 3.6 KB message row: 33 µs with ``json``, 3 µs with orjson). The documents are the
same either way: compact separators, UTF-8 rather than ``\\u`` escapes. What the store refuses is the
same too, because anything orjson would write differently goes through the standard encoder and is
refused there:

* NaN and ±Infinity: orjson writes them as ``null``; the text is re-encoded strictly whenever it
  contains ``null`` (rare in items), which raises for them.
* datetimes, dataclasses and subclasses of str/int/dict/list, which orjson would serialise, and
  integers beyond 64 bits, which it refuses: handed to the standard encoder, which writes the
  integers and refuses the rest, as before.

Reading stays with ``json.loads``: orjson reads an integer beyond 64 bits as a float, silently
losing digits that DynamoDB (38 digits) would have kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

_STRICT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def dumps(item: Mapping[str, Any]) -> str:
    """The item as JSON text; TypeError or ValueError when it is not storable as JSON."""
    try:
        doc = orjson.dumps(item, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _STRICT(item)
    if b"null" in doc:
        return _STRICT(item)  # NaN or Infinity may hide behind a null: the strict encoder refuses them
    return doc.decode("utf-8")


loads = json.loads
