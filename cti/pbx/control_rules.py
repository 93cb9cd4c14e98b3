"""What call control accepts: its refusals, one PBX's dialplan names, and the transfer target
check. Pure rules, no I/O: :mod:`cti.pbx.call_control` applies them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cti.config import PbxConfig
from cti.pbx.call_legs import Leg

TARGET = re.compile(r"[0-9]{1,15}")
_CONTEXT = re.compile(r"[A-Za-z0-9_.\-]{1,80}")
_GROUP = re.compile(r"[A-Za-z0-9_.\- ]{1,40}")


class ControlRefused(Exception):
    """A command that is not carried out: ``status`` is the HTTP status to answer, ``code``
    the machine-readable reason (also written to the audit log)."""

    def __init__(self, status: int, code: str, msgid: str, **values: str) -> None:
        super().__init__(msgid.format(**values) if values else msgid)
        self.status = status
        self.code = code
        self.msgid = msgid  # English UI text with {placeholders}: the web layer translates it
        self.values = values
        self.message = str(self)


@dataclass(frozen=True, slots=True)
class ControlRules:
    """One PBX's dialplan names (``pbx.transfer_context``, ``pbx.transfer_groups``,
    ``pbx.parking_lot``, ``pbx.parking_context``), checked at start-up."""

    transfer_context: str = "from-internal"
    groups: Mapping[str, str] = field(default_factory=dict)
    parking_lot: str = "default"
    parking_context: str = "parkedcalls"
    timeout_ms: int = 30000
    extension_pattern: str = r"^\d{2,6}$"  # pbx.extension_pattern: which endpoints are phones

    def is_phone(self, leg: Leg) -> bool:
        """A phone's channel (``PJSIP/1001-…``), not a trunk's nor a Local one."""
        return bool(leg.endpoint) and re.search(self.extension_pattern, leg.endpoint) is not None

    def __post_init__(self) -> None:
        for key, value in (("transfer_context", self.transfer_context),
                           ("parking_context", self.parking_context)):
            if not _CONTEXT.fullmatch(value):
                raise ValueError(f"pbx.{key}: {value!r} is not a dialplan context")
        if self.parking_lot and not _CONTEXT.fullmatch(self.parking_lot):
            raise ValueError(f"pbx.parking_lot: {self.parking_lot!r} is not a lot name")
        for name, exten in self.groups.items():
            if not _GROUP.fullmatch(name) or not TARGET.fullmatch(exten):
                raise ValueError(f"pbx.transfer_groups: {name!r} = {exten!r}: a name and an "
                                 "extension of digits")


def clean_target(raw: object, groups: Mapping[str, str]) -> str:
    """The extension a transfer goes to: a configured group's, or digits only (1–15). Anything
    else — CR/LF, letters, ``&``, ``,``, ``/`` — could reach the dialplan as ``${EXTEN}``
    (``Dial(PJSIP/${EXTEN})``) or break the AMI packet: refused before an action exists."""
    if isinstance(raw, str) and raw in groups:
        return groups[raw]
    if not isinstance(raw, str) or not TARGET.fullmatch(raw):
        raise ControlRefused(400, "invalid_target", "A transfer target is an extension "
                             "(digits only) or one of the groups offered.")
    return raw


def control_rules(pbx: PbxConfig) -> ControlRules:
    """The rules of one ``[[pbx]]``."""
    return ControlRules(pbx.transfer_context, dict(pbx.transfer_groups), pbx.parking_lot,
                        pbx.parking_context, extension_pattern=pbx.extension_pattern)
