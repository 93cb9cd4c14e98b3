"""What a recording's file name tells: which leg it holds, and which call it belongs to.

Pure functions (no I/O), shared by the bus linker and the folder scan.

* **Legs.** MixMonitor writes one mixed file; its ``r(file)``/``t(file)`` options add one file
  per direction (what the channel *received* and *transmitted*), and the old ``Monitor()`` app
  wrote ``-in``/``-out`` pairs. Dialplans name them ``…-rx.wav``/``…-tx.wav`` (or ``-r``/``-t``,
  ``-in``/``-out``), which is how they are told apart here. Who speaks in which depends on the
  channel MixMonitor runs on — with ``dialplan/extensions_cti.conf``, the *answering* one:
  ``rx`` is that channel's own party (the agent on an inbound call, the remote party on an
  outbound one) and ``tx`` the other party.
* **Calls.** A file written while cti was down has no event; dialplans put the call's
  ``${LINKEDID}`` (or the channel's ``${UNIQUEID}``) in the name, an ``<epoch>.<sequence>``
  token such as ``1795444401.149``. Every such token is a candidate, last first (names usually
  end with the id). Systems with ``systemname`` set prefix ids with the host name; the token
  found is then only the numeric part, and does not match.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

LEGS: tuple[str, ...] = ("mixed", "rx", "tx")

_LEG_SUFFIX = re.compile(r"[-_.](rx|tx|r|t|in|out)$", re.IGNORECASE)
_LEG_BY_SUFFIX = {"rx": "rx", "r": "rx", "in": "rx", "tx": "tx", "t": "tx", "out": "tx"}
#: Asterisk's uniqueids: epoch seconds (9+ digits), a dot, a sequence number.
_CALL_ID = re.compile(r"(?<![\d.])(\d{9,12}\.\d{1,9})(?![\d])")


def stem(path: str) -> str:
    """The file name without its folder and extension (``/a/b-1.2.wav`` → ``b-1.2``)."""
    name = PurePosixPath(path.replace("\\", "/")).name
    return name.rsplit(".", 1)[0] if "." in name and not _ends_with_id(name) else name


def _ends_with_id(name: str) -> bool:
    """``x-1795444401.149`` (no extension) must keep its id whole."""
    return bool(re.search(r"\d{9,12}\.\d{1,9}$", name))


def leg_of(path: str) -> str:
    """``rx``/``tx`` for a per-direction file, else ``mixed``."""
    match = _LEG_SUFFIX.search(stem(path))
    return _LEG_BY_SUFFIX[match.group(1).lower()] if match else "mixed"


def call_ids_in(path: str) -> list[str]:
    """Linkedid/Uniqueid candidates in a file name, last first, without repeats."""
    found = _CALL_ID.findall(stem(path))
    return list(dict.fromkeys(reversed(found)))
