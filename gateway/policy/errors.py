"""Errors of the policy subsystem. Only the edges (CLI, API, start-up) turn them into outcomes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a bundle or a case file, at a place a person can open."""

    file: str
    line: int
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"


class PolicyError(Exception):
    """Base of every policy-subsystem failure."""


class BundleError(PolicyError):
    """The bundle cannot be loaded or compiled; the gateway must not start with it."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid policy bundle")


class CaseFileError(PolicyError):
    """A policy-tests case file is malformed."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid case file")
