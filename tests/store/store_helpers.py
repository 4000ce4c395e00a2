"""Helpers shared by the store tests (a module name unique across the test tree)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.clock import FakeClock
from gateway.store.port import Page, Tables


@dataclass
class Store:
    kind: str
    tables: Tables
    clock: FakeClock
    reopen: Callable[[], Tables]


def drain(fetch: Callable[[str | None], Page], max_pages: int = 1000) -> list[Page]:
    """Every page of a paginated read, following cursors until one is None."""
    pages = [fetch(None)]
    while pages[-1].cursor is not None:
        assert len(pages) < max_pages, "pagination does not terminate"
        pages.append(fetch(pages[-1].cursor))
    return pages
