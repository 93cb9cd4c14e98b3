"""Shared by the call-control tests: the whole product (simulator, daemon, web) with every
call-control action the simulator receives kept in order, the usual people, and waiting for a
played call to be answered, bridged and known to cti's call control."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from cti.pbx.call_control import CallControl
from cti.pbx.call_legs import Leg
from cti.sim.ami_session import AmiRequest, AmiSession
from cti.sim.generator import LiveCall
from cti.sim.scenarios import Agent, CallSpec
from cti.users import UserService
from tests.browser import Stack, product

WATCHED = ("Hangup", "BlindTransfer", "Atxfer", "Park", "Originate", "Redirect")


async def until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for ``predicate`` (a deadline against hangs, not a timing assertion)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def record_actions(stack: Stack) -> list[dict[str, str]]:
    """Every watched action the simulator receives from now on, headers as sent."""
    sent: list[dict[str, str]] = []
    for name in WATCHED:
        real = stack.ami.handler(name)
        assert real is not None

        def spy(session: AmiSession, req: AmiRequest, real: Any = real) -> None:
            sent.append({k: v for k, v in req.headers})
            real(session, req)

        stack.ami.register_action(name, spy)
    return sent


@asynccontextmanager
async def control_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """agent1 at 1001, agent2 at 1002, boss (supervisor) at 1003, root (admin) without one."""
    async with product(tmp_path) as stack:
        assert stack.daemon.store is not None
        users = UserService(stack.daemon.store)
        await users.create("agent1", "agent1-secret", "agent", ["1001"],
                           display_name="Alice Martin")
        await users.create("agent2", "agent2-secret", "agent", ["1002"])
        await users.create("boss", "boss-secret!", "supervisor", ["1003"])
        await users.create("root", "root-secret!", "admin", [])
        yield stack


def control_of(stack: Stack) -> CallControl:
    control = stack.daemon.call_control
    assert control is not None
    return control


def play_inbound(stack: Stack, talk: float = 120.0) -> LiveCall:
    return stack.generator.play(CallSpec("inbound_answered", Agent("1001", "Alice Martin"),
                                         caller="0612345678", caller_name="", did="0155512345",
                                         ring=0.5, talk=talk))


async def answered_leg(stack: Stack, live: LiveCall, extension: str = "1001") -> Leg:
    """The extension's channel once it talks (answered and bridged), as cti knows it."""
    control = control_of(stack)
    found: list[Leg] = []

    def ready() -> bool:
        entry = control.legs.get("default", live.linkedid)
        leg = entry.leg_of([extension]) if entry is not None else None
        if leg is not None and leg.up and leg.bridge and entry is not None and entry.peer_of(
                leg) is not None:
            found[:] = [leg]
            return True
        return False

    await until(ready)
    return found[0]


async def stored_call(stack: Stack, call_id: str) -> dict[str, Any]:
    store = stack.daemon.store
    assert store is not None
    found: list[dict[str, Any]] = []

    async def poll() -> None:
        while True:
            await store.flush()
            row = await store.get_call("default", call_id)
            if row is not None:
                found.append(row)
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), 20)
    return found[0]


async def audit_rows(stack: Stack, prefix: str = "call_") -> list[tuple[str, str, str]]:
    store = stack.daemon.store
    assert store is not None
    rows = await store.query("SELECT username, action, result FROM audit_log "
                             "WHERE action LIKE ? ORDER BY id", (prefix + "%",))
    return [(r["username"], r["action"], r["result"]) for r in rows]
