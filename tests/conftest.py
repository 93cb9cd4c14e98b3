"""Shared by every test: the root logger is put back after each test.

``cti.cli.main`` (run in-process by the CLI tests) installs a handler on the ``sys.stderr`` of
that moment, which pytest's capture then closes; later tests' log lines would hit a closed file
("--- Logging error ---" noise, and lost messages). Restoring the handlers keeps each test's
logging its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
