"""Who is calling: the authenticated user and their role."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    Viewer = 1
    Operator = 2
    Admin = 3

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value]
        except KeyError:
            raise ValueError(f"role must be one of Viewer, Operator, Admin; got {value!r}") from None


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    role: Role
    # "local" (embedded identity) or "cognito"
    issuer: str = "local"

    @property
    def audit_id(self) -> str:
        return self.user_id
