"""What a channel is (trunk, extension, Local half) and which way a call goes.

Asterisk names a channel ``<tech>/<endpoint>-<sequence>`` (``PJSIP/1001-00000081``,
``SIP/provider-0000a1b2``) or, for Local channels, ``Local/<exten>@<context>-<seq>;<half>``.
A stock dialplan says nothing about direction, so we infer it from the endpoint name: phones are
usually named after their 2–6 digit extension, trunks after the provider. Both rules are
settings, because real PBXes break them (alphanumeric extensions, numeric trunk accounts).

Note that an *outgoing* trunk channel carries the trunk endpoint's own ``context``
(``from-trunk`` in the captures): only the call's *first* channel's context says "inbound".
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from cti.calls.model import LegKind

# Technologies whose channels are always lines to the outside world.
TRUNK_TECHS = frozenset({"DAHDI", "ZAP", "MISDN", "DONGLE", "OOH323", "H323"})
# Technologies whose channels are internal plumbing, never a party.
OTHER_TECHS = frozenset(
    {"MESSAGE", "CONFBRIDGE", "SNOOP", "ANNOUNCER", "RECORDER", "MULTICAST", "BRIDGEMEDIA",
     "CBANNOUNCE", "CBREC", "UNISTIM", "MULTICASTRTP", "AUDIOSOCKET", "WEBSOCKET"}
)


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of the pure call tracker (filled from the ``[[pbx]]`` table of the config)."""

    pbx: str = "default"
    extension_pattern: str = r"^\d{2,6}$"
    trunk_patterns: tuple[str, ...] = ()
    inbound_contexts: tuple[str, ...] = (
        "from-trunk*", "from-pstn*", "from-external*", "from-did*", "ext-did*", "from-sip-external",
    )
    external_min_digits: int = 7
    overlong_seconds: float = 600.0
    overlong_by_direction: Mapping[str, float] = field(default_factory=dict)
    overlong_by_queue: Mapping[str, float] = field(default_factory=dict)
    recording_variables: tuple[str, ...] = ("MIXMONITOR_FILENAME", "CTI_RECORDING")
    #: Set by the dialplan's [cti-survey] as the caller goes to the post-call survey: the
    #: conversation (talk time, the call's end) stops there (dialplan/extensions_cti.conf).
    survey_variable: str = "CTI_SURVEY"

    def overlong_threshold(self, direction: str, queue: str | None) -> float:
        if queue and queue in self.overlong_by_queue:
            return float(self.overlong_by_queue[queue])
        if direction in self.overlong_by_direction:
            return float(self.overlong_by_direction[direction])
        return float(self.overlong_seconds)


@dataclass(frozen=True, slots=True)
class ChannelName:
    tech: str
    endpoint: str  # "1001", "trunk", or for Local channels "1001@from-internal"
    local_half: int = 0  # 1 or 2 for Local channels

    @property
    def local_exten(self) -> str:
        return self.endpoint.split("@", 1)[0] if self.tech == "LOCAL" else ""


_VALID_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[^\s;/][^\s]*$")


def valid_channel_name(name: str) -> bool:
    """``Tech/resource`` as Asterisk names channels; Local channels need ``exten@context``."""
    if not _VALID_CHANNEL.match(name):
        return False
    return name[:6].upper() != "LOCAL/" or "@" in name


@lru_cache(maxsize=65536)
def parse_channel(name: str) -> ChannelName:
    """``PJSIP/1001-00000081`` → (PJSIP, 1001); ``Local/1001@ctx-00000012;2`` → (LOCAL, …, 2)."""
    name = name.replace("<ZOMBIE>", "")
    tech, _, rest = name.partition("/")
    tech = tech.upper()
    half = 0
    if tech == "LOCAL":
        rest, _, h = rest.rpartition(";")
        half = int(h) if h.isdigit() else 0
    endpoint, dash, seq = rest.rpartition("-")
    if not dash or not seq:  # no sequence suffix (DAHDI/i1/0612345678-1 has one; be lenient)
        endpoint = rest
    if tech == "DAHDI":
        endpoint = endpoint.split("/")[0]
    return ChannelName(tech, endpoint, half)


class Classifier:
    """Compiled form of the direction settings."""

    def __init__(self, cfg: TrackerConfig) -> None:
        self.cfg = cfg
        self._ext = re.compile(cfg.extension_pattern)
        self._trunks = [re.compile(p) for p in cfg.trunk_patterns]
        self._inbound = tuple(c.lower() for c in cfg.inbound_contexts)

    def leg_kind(self, cn: ChannelName) -> LegKind:
        if cn.tech == "LOCAL":
            return "local"
        if cn.tech in OTHER_TECHS or not cn.tech:
            return "other"
        if cn.tech in TRUNK_TECHS or any(p.search(cn.endpoint) for p in self._trunks):
            return "trunk"
        if self._ext.search(cn.endpoint):
            return "extension"
        return "trunk"

    def is_extension_number(self, number: str) -> bool:
        return bool(number) and bool(self._ext.search(number))

    def is_inbound_context(self, context: str) -> bool:
        ctx = context.lower()
        return any(fnmatch.fnmatchcase(ctx, pat) for pat in self._inbound)

    def is_external_number(self, number: str) -> bool:
        digits = sum(ch.isdigit() for ch in number)
        return digits >= self.cfg.external_min_digits
