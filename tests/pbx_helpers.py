"""The whole stack for web tests that talk to a PBX: the simulator's AMI server on real TCP,
the daemon connected to it (AMI client → tracker → store, click-to-dial service), and the web
app served on loopback HTTP over the daemon's store. ``Stack.originates`` keeps every
``Originate`` request the simulator received, headers in order, as Asterisk would read them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cti.config import load_config
from cti.daemon import Daemon
from cti.sim.actions import attach
from cti.sim.ami_server import AmiServer
from cti.sim.ami_session import AmiRequest, AmiSession
from cti.sim.generator import CallGenerator
from cti.sim.traffic import SimConfig
from cti.users import UserService
from cti.webapp.metrics import daemon_metrics
from tests.web_helpers import seed_users, serve_app


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for ``predicate`` (a deadline against hangs, not a timing assertion)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@dataclass
class Stack:
    server: AmiServer
    generator: CallGenerator
    daemon: Daemon
    users: UserService
    client: TestClient[Any, Any]
    originates: list[AmiRequest] = field(default_factory=list)

    def originate_headers(self, index: int = -1) -> dict[str, str]:
        return {k: v for k, v in self.originates[index].headers}


@asynccontextmanager
async def pbx_stack(tmp_path: Path, **settings: Any) -> AsyncIterator[Stack]:
    server = AmiServer(timestamp_events=True, auth_fail_delay=0)
    generator = attach(server, SimConfig(time_scale=20, speech=False), seed=5)
    originates: list[AmiRequest] = []
    simulated = server.handler("Originate")
    assert simulated is not None

    def recording(session: AmiSession, req: AmiRequest) -> None:
        originates.append(req)
        simulated(session, req)

    server.register_action("Originate", recording)
    await server.start()
    await generator.start()
    config = load_config(env={}, overrides={
        "db.path": str(tmp_path / "cti.db"), "pbx.ami_port": server.port,
        "pbx.ami_secret": server.secret, "pbx.ami_backoff_min": 0.01,
        "pbx.ami_backoff_max": 0.05, **settings})
    daemon = Daemon(config)
    await daemon.start()
    try:
        await server.wait_for_login(1)
        await until(lambda: daemon.pbx_states() == {"default": "connected"})
        assert daemon.store is not None and daemon.actions is not None
        users = UserService(daemon.store)
        await seed_users(users)
        async with serve_app(daemon.store, users=users, config=config,
                             clients=daemon.clients, actions=daemon.actions,
                             pbx_states=daemon.pbx_states,
                             metrics_providers=[daemon_metrics(daemon)]) as client:
            yield Stack(server, generator, daemon, users, client, originates)
    finally:
        await daemon.close()
        await generator.close()
        await server.close()
