"""Object storage for generated files (bulk reports): a port and its three adapters.

``LocalObjects`` keeps them under a directory (the embedded default: ``<data dir>/reports``),
``S3Objects`` under a bucket and prefix (``s3://stream.wecare.digital/base-wecare-digital/reports/``),
``MemoryObjects`` in a dict (the fake). One contract suite runs over all three
(``tests/store/test_objects.py``). Keys are relative paths of safe segments (``<jobId>/report.csv``):
the adapters refuse anything else, so no key can leave its root.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path
from typing import IO, Any, Protocol

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")


def check_key(key: str) -> str:
    """``key`` when every ``/``-separated segment is a plain name (no ``..``, no empty segment)."""
    parts = key.split("/")
    if not parts or any(not _SEGMENT.match(p) or p in (".", "..") for p in parts):
        raise ValueError(f"not a safe object key: {key!r}")
    return key


class ObjectStore(Protocol):
    def put_file(self, key: str, source: IO[bytes], *, content_type: str) -> None:
        """Store ``source`` (read from its current position to the end) under ``key``, replacing it."""
        ...

    def get(self, key: str) -> bytes | None:
        """The stored bytes, or None when there is no such object."""
        ...

    def location(self, key: str) -> str:
        """Where the object lives, for people (a path or an ``s3://`` URL)."""
        ...


class MemoryObjects:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put_file(self, key: str, source: IO[bytes], *, content_type: str) -> None:
        body = source.read()
        with self._lock:
            self.objects[check_key(key)] = (body, content_type)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self.objects.get(check_key(key))
        return found[0] if found is not None else None

    def location(self, key: str) -> str:
        return f"memory://{check_key(key)}"


class LocalObjects:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*check_key(key).split("/"))

    def put_file(self, key: str, source: IO[bytes], *, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as out:
            shutil.copyfileobj(source, out)
        partial.replace(path)  # readers see the old file or the whole new one, never half of one

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def location(self, key: str) -> str:
        return str(self._path(key))


class S3Objects:
    """Objects in ``s3://<bucket>/<prefix><key>``; ``client`` is an injected boto3 S3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def _key(self, key: str) -> str:
        return self._prefix + check_key(key)

    def put_file(self, key: str, source: IO[bytes], *, content_type: str) -> None:
        # upload_fileobj streams in parts (multipart above its threshold): a large report is never
        # held in memory whole.
        self._client.upload_fileobj(
            source, self._bucket, self._key(key), ExtraArgs={"ContentType": content_type}
        )

    def get(self, key: str) -> bytes | None:
        try:
            reply = self._client.get_object(Bucket=self._bucket, Key=self._key(key))
        except self._client.exceptions.NoSuchKey:
            return None
        body: bytes = reply["Body"].read()
        return body

    def location(self, key: str) -> str:
        return f"s3://{self._bucket}/{self._key(key)}"
