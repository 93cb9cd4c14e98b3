"""Values of the AMI client: its settings, state, counters and snapshot, and small pure helpers.

No I/O and no panoramisk here (that stays in :mod:`cti.ami.client`, which re-exports these
names), so configuration code, the health page and tests can use them without a connection.
"""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cti.ami.messages import AmiMessage, ParserStats

EventCallback = Callable[[AmiMessage, float], None]
InOrderCallback = Callable[[list[AmiMessage], float], None]  # (list items, received_at)
ActionFields = Mapping[str, str | Sequence[str]]  # a sequence value repeats the header

#: Events the client needs whatever the daemon filters: resync lists and session control.
ALWAYS_WANTED = frozenset({
    "CoreShowChannel", "CoreShowChannelsComplete", "BridgeListItem", "BridgeListComplete",
    "FullyBooted", "Shutdown",
})
#: ``Response`` values of an action that did not succeed.
FAILED_RESPONSES = frozenset({"Error", "Fail", "Failure"})


class AmiState(enum.StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    AUTH_FAILED = "auth_failed"


@dataclass(frozen=True, slots=True)
class AmiConfig:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "cti"
    secret: str = ""
    events: str = "on"  # Login's Events: on, off, or classes ("call,system")
    ping_interval: float = 20.0  # <= 0 disables the keepalive
    action_timeout: float = 10.0  # default for actions, login, ping and TCP connect
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    wanted: frozenset[str] | None = None  # event names to parse; None: all


@dataclass(slots=True)
class AmiCounters:
    connects: int = 0  # TCP connections made
    connect_failures: int = 0  # refused, unreachable, timed out
    logins: int = 0
    login_failures: int = 0
    disconnects: int = 0  # logged-in sessions that ended
    events: int = 0
    responses: int = 0  # messages matched to a pending action
    orphans: int = 0  # answers nobody waits for (late, after a timeout)
    actions_sent: int = 0
    actions_failed: int = 0  # error answers and actions lost with the connection
    actions_timed_out: int = 0
    pings: int = 0
    ping_timeouts: int = 0
    callback_errors: int = 0  # on_event raised
    hook_errors: int = 0  # on_connected raised
    bytes_received: int = 0
    last_event_at: float | None = None


@dataclass(frozen=True, slots=True)
class AmiSnapshot:
    state: AmiState
    counters: AmiCounters  # a copy
    parser: ParserStats  # summed over every connection so far
    banner: str | None  # "Asterisk Call Manager/11.0.0" of the last login


def action_pairs(fields: ActionFields) -> list[tuple[str, str]]:
    """The action's header lines in order; a sequence value gives one line per item."""
    out: list[tuple[str, str]] = []
    for key, value in fields.items():
        values = [value] if isinstance(value, str) else value
        out.extend((key, str(v)) for v in values)
    return out


def sum_parser_stats(a: ParserStats, b: ParserStats) -> ParserStats:
    return ParserStats(**{f.name: getattr(a, f.name) + getattr(b, f.name)
                          for f in dataclasses.fields(ParserStats)})


def backoff_delay(config: AmiConfig, attempt: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform between ``backoff_min`` and a cap that
    doubles with each failed ``attempt`` (0, 1, 2, ...) up to ``backoff_max``."""
    cap = min(config.backoff_max, config.backoff_min * 2.0 ** min(attempt + 1, 32))
    return rng.uniform(config.backoff_min, max(cap, config.backoff_min))
