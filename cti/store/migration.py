"""One numbered schema step, on its own so that every table owner can declare its steps.

It lives apart from :mod:`cti.store.schema` because that module gathers every service's steps
(``MIGRATIONS = CALL_MIGRATIONS + CLIENT_MIGRATIONS + …``): a ``*_schema`` module importing
``Migration`` from it would make a circular import whenever the ``*_schema`` module is imported
first. ``cti.store.schema.Migration`` remains the same class.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step. ``version`` numbers are 1, 2, 3, ... and a step is never edited once
    released: a change to the schema is a new step, applied once, in its own transaction."""

    version: int
    name: str
    statements: tuple[str, ...]
