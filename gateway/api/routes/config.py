"""HTTP routes: config."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
