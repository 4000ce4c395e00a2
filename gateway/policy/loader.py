"""Reading a bundle folder and case folders: the only file I/O in the policy package."""

from __future__ import annotations

from pathlib import Path

from gateway.policy.bundle import Bundle, parse_bundle
from gateway.policy.errors import BundleError, Problem
from gateway.policy.lint import lint_bundle


def read_bundle_files(directory: Path) -> dict[str, str]:
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleError([Problem(str(directory), 0, "no such policy folder")])
    files: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            try:
                files[path.name] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise BundleError([Problem(path.name, 0, f"cannot read: {exc}")]) from None
    return files


def load_bundle(directory: Path, *, check: bool = True) -> Bundle:
    """Load, validate, compile and type-check the bundle in ``directory``.

    Raises :class:`BundleError` listing every problem with file and line; the gateway must not
    start with a bundle that does not load.
    """
    bundle = parse_bundle(read_bundle_files(directory))
    if check:
        errors = [p for p in lint_bundle(bundle) if p.severity == "error"]
        if errors:
            raise BundleError(errors)
    return bundle


def read_case_files(directory: Path) -> dict[str, str]:
    """Every ``*.yaml`` case file under ``directory`` (name relative to it → text)."""
    directory = Path(directory)
    if directory.is_file():
        return {directory.name: directory.read_text(encoding="utf-8")}
    if not directory.is_dir():
        raise FileNotFoundError(f"no such case folder: {directory}")
    return {
        str(path.relative_to(directory)): path.read_text(encoding="utf-8")
        for path in sorted(directory.rglob("*.y*ml"))
        if path.is_file()
    }
