"""Evaluating an ``Update`` in Python: shared by the adapters that do not hand updates to a server."""

from __future__ import annotations

from gateway.store.port import ConditionFailed, Item, Key, Update


def apply_update(current: Item | None, key: Key, update: Update) -> Item:
    """The item after ``update``; shared by adapters that evaluate updates in Python."""
    item: Item = dict(current) if current is not None else dict(key)
    for name, value in update.set.items():
        item[name] = value
    for name, delta in update.add.items():
        base = item.get(name, 0)
        if isinstance(base, bool) or not isinstance(base, int | float):
            raise ConditionFailed(f"cannot add to non-numeric attribute {name!r}")
        item[name] = base + delta
    for name in update.remove:
        item.pop(name, None)
    return item
