"""The lab the captures come from, and reading a capture folder for the template builder.

The captures in ``tests/fixtures/`` were recorded on a lab Asterisk 22.10.1 (configuration in
the shared ``asterisk-captures/lab-config/``): agents 1001–1004, one trunk endpoint called
``trunk``, queues ``support`` (1001, 1002) and ``sales`` (1001–1004), MixMonitor files under
``/var/astrec/recordings`` and the company ``ACME Support`` presenting ``0155512345``. The
builder needs these to recognise what in a capture is an identity to turn into a token.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cti.ami.messages import AmiMessage
from cti.sim.capture import load_capture

LAB_AGENTS = {"1001": "Alice Martin", "1002": "Bruno Petit", "1003": "Chloe Durand",
              "1004": "David Moreau"}
LAB_QUEUES = {"support": ("1001", "1002"), "sales": ("1001", "1002", "1003", "1004")}
LAB_TRUNK = "trunk"
LAB_RECDIR = "/var/astrec/recordings"
LAB_COMPANY = ("ACME Support", "0155512345")
DROPPED = frozenset({"SuccessfulAuth", "CEL", "RTCPSent", "RTCPReceived"})


@dataclass
class Roles:
    """What the capture's literals stand for (from truth.json and the lab configuration)."""

    agents: list[str]
    caller: str = ""
    caller_name: str = ""
    did: str = ""
    dialled: str = ""
    queue: str = ""
    cid_num: str = ""
    cid_name: str = ""
    action_id: str = ""
    variables: list[tuple[str, str]] = field(default_factory=list)


def read_roles(folder: Path, events: list[tuple[float, AmiMessage]]) -> Roles:
    truth = json.loads((folder / "truth.json").read_text())
    plan = truth["planned"][0]
    agents = [plan["agent"]]
    for other in (plan.get("callee_agent"), (plan.get("transfer") or {}).get("to"),
                  *plan.get("rang_agents", [])):
        if other and other not in agents:
            agents.append(other)
    roles = Roles(agents=agents, queue=plan.get("queue") or "")
    external = plan.get("external_number") or ""
    if plan["direction"] == "inbound":
        roles.caller, roles.did = external, plan.get("did") or ""
        first = events[0][1]
        roles.caller_name = first.get("CallerIDName", "")
    else:
        roles.dialled = external
        roles.did = LAB_COMPANY[1] if external else ""
    for line in (folder / "ami.sent.jsonl").read_text().splitlines():
        action = json.loads(line).get("action", {})
        if action.get("Action") == "Originate":
            roles.action_id = action.get("ActionID", "")
            m = re.match(r'^"?(.*?)"?\s*<(.*)>$', action.get("CallerID", ""))
            if m:
                roles.cid_name, roles.cid_num = m.group(1), m.group(2)
            for pair in action.get("Variable", "").split(","):
                name, _, value = pair.partition("=")
                if name:
                    roles.variables.append((name, value))
    return roles


def capture_events(folder: Path) -> tuple[list[tuple[float, AmiMessage]], float]:
    """The call's events (relative to its first one) and the epoch of that first event."""
    cap = load_capture(folder)
    parsed = cap.parsed()
    epoch = None
    events: list[tuple[float, AmiMessage]] = []
    for (t, _), msg in zip(cap.messages, parsed, strict=True):
        name = msg.get("Event", "")
        if name == "SuccessfulAuth" and "EventTV" in msg:
            tv = datetime.fromisoformat(msg["EventTV"].replace("+0000", "+00:00"))
            epoch = tv.timestamp() - t
        if name and name not in DROPPED and "security" not in msg.get("Privilege", ""):
            events.append((t, msg))
    if epoch is None:
        epoch = cap.epoch or 0.0
    start = events[0][0]
    return [(t - start, msg) for t, msg in events], epoch + start
