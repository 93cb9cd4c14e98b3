"""``cti sim`` (the PBX simulator alone) and ``cti demo`` (simulator + daemon, one process).

The simulator is a real network peer: AMI on TCP (default 127.0.0.1:5038, user ``cti`` /
secret ``cti-secret``, like the sample manager.conf) and ARI on HTTP (127.0.0.1:8088), so any AMI
client — cti's daemon, panoramisk, a telnet session — can connect to it. The demo wires cti's
daemon to it and prints each finished call in the terminal while the simulator keeps generating
traffic; ``--seconds`` stops it (used by the tests and the "demo in under a minute" check).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from cti.calls.model import CallEnded, DomainEvent
from cti.config import Config
from cti.console import call_line
from cti.daemon import Daemon, FrontEnd, FrontEndStarter, start_front_end
from cti.sim.ami_queue import install as install_queue_actions
from cti.sim.ami_server import AmiServer
from cti.sim.ari_server import AriServer
from cti.sim.demo_survey import DemoSurveyCallers
from cti.sim.generator import CallGenerator
from cti.sim.traffic import SimConfig
from cti.tickets.groups import GroupService
from cti.users import UserService

log = logging.getLogger(__name__)


class PortInUse(Exception):
    """A simulator port is taken (another PBX or another ``cti demo`` is running)."""


@dataclass
class SimOptions:
    host: str = "127.0.0.1"
    ami_port: int = 5038
    ari_port: int = 8088
    username: str = "cti"
    secret: str = "cti-secret"
    rate: float = 4.0  # calls per minute
    talk_mean: float = 30.0  # seconds: short calls, so the demo's call log fills quickly
    seed: int = 1
    recordings: Path | None = Path("recordings")
    time_scale: float = 1.0


@dataclass
class Simulator:
    ami: AmiServer
    ari: AriServer
    generator: CallGenerator
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.generator.close()
        await self.ari.close()
        await self.ami.close()


async def start_simulator(opts: SimOptions) -> Simulator:
    from cti.sim.actions import attach

    # Timestamp headers keep durations right when time_scale compresses simulated time
    ami = AmiServer(opts.host, opts.ami_port, opts.username, opts.secret, timestamp_events=True)
    config = SimConfig(calls_per_minute=opts.rate, time_scale=opts.time_scale,
                       talk_mean=opts.talk_mean,
                       recordings_dir=str(opts.recordings) if opts.recordings else None)
    if opts.recordings:
        opts.recordings.mkdir(parents=True, exist_ok=True)
    generator = attach(ami, config, opts.seed)
    install_queue_actions(ami, {q.name: [(f"PJSIP/{m}", _agent_name(config, m))
                                         for m in q.members] for q in config.queues})
    ari = AriServer(opts.host, opts.ari_port, opts.username, opts.secret, ami=ami)
    try:
        await ami.start()
        await ari.start()
    except OSError as exc:
        await ami.close()
        raise PortInUse(f"cannot listen on {opts.host} (AMI {opts.ami_port}, ARI "
                        f"{opts.ari_port}): {exc.strerror or exc}. Is another PBX or "
                        "cti demo running? Choose other ports with --ami-port/--ari-port.") from exc
    sim = Simulator(ami, ari, generator)
    sim.tasks.append(asyncio.create_task(generator.run(first_now=True), name="sim-traffic"))
    return sim


def _agent_name(config: SimConfig, ext: str) -> str:
    agent = config.agent(ext)
    return agent.name if agent is not None else ext


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds if seconds > 0 else None)


async def run_sim(opts: SimOptions, seconds: float = 0.0, out: TextIO = sys.stdout) -> int:
    try:
        sim = await start_simulator(opts)
    except PortInUse as exc:
        print(f"cti sim: {exc}", file=sys.stderr)
        return 1
    print(f"PBX simulator: AMI {opts.host}:{sim.ami.port} (user {opts.username} / secret "
          f"{opts.secret}), ARI {sim.ari.url}; {opts.rate:g} calls/min, seed {opts.seed}. "
          "Ctrl-C to stop.", file=out, flush=True)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    try:
        await _wait(stop, seconds)
    finally:
        await sim.close()
    return 0


#: The demo's people: (username, password, role, extensions, display name). The agents sit at
#: the simulator's first two phones, so their calls are the ones generated.
DEMO_USERS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("agent1", "agent1-demo", "agent", ("1001",), "Alice Martin"),
    ("agent2", "agent2-demo", "agent", ("1002",), "Bruno Petit"),
    ("supervisor", "supervisor-demo", "supervisor", (), "Superviseur"),
    ("admin", "admin-demo", "admin", (), "Admin"),
)


DEMO_GROUP = "Hotline"


async def ensure_demo_users(users: UserService) -> None:
    """Create the demo users, or put them back as documented (a demo database is reused from
    one run to the next, and someone may have changed a password or disabled an account)."""
    for username, password, role, extensions, name in DEMO_USERS:
        user = await users.get_by_username(username)
        if user is None:
            await users.create(username, password, role, extensions, display_name=name)
            continue
        await users.update(user.id, role=role, extensions=extensions, display_name=name)
        await users.set_active(user.id, True)
        if await users.authenticate(username, password) is None:
            await users.set_password(user.id, password)


async def ensure_demo_groups(groups: GroupService) -> None:
    """The agents' "Hotline" group, for group tickets and callbacks."""
    if not any(g.name == DEMO_GROUP for g in await groups.list_all()):
        await groups.create(DEMO_GROUP, [u for u, _, role, _, _ in DEMO_USERS
                                         if role == "agent"])


async def run_demo(config: Config, opts: SimOptions, seconds: float = 0.0,
                   out: TextIO = sys.stdout, *, web: FrontEndStarter | None = None) -> int:
    """Simulator + daemon (+ the web UI when ``web`` is given, with the demo users)."""
    try:
        sim = await start_simulator(opts)
    except PortInUse as exc:
        print(f"cti demo: {exc}", file=sys.stderr)
        return 1
    first = replace(config.pbxes[0], ami_host=opts.host, ami_port=sim.ami.port,
                    ami_user=opts.username, ami_secret=opts.secret,
                    ari_url=sim.ari.url)
    config = replace(config, pbxes=(first,))
    if opts.recordings:  # replay, transcripts and scores of the simulated calls' recordings
        recdir = str(Path(opts.recordings).resolve())
        values = dict(config.values)
        values.update({"recordings.dir": recdir, "recordings.pbx_dir": recdir})
        if not values.get("speech.company"):
            values["speech.company"] = sim.generator.config.company
        config = replace(config, values=values)
    daemon = Daemon(config)

    def show(event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            print(call_line(event.record), file=out, flush=True)

    daemon.bus.subscribe(show)
    surveys = None
    if config.get("survey.enabled"):  # callers stay on the line and answer the survey
        surveys = DemoSurveyCallers(sim.ari, seed=opts.seed,
                                    language=str(config.get("survey.language")),
                                    questions=len(list(config.get("survey.questions"))))
        daemon.bus.subscribe(surveys.on_event)
    await daemon.start()
    front: FrontEnd | None = None
    web_lines = ""
    if web is not None and daemon.store is not None:
        await ensure_demo_users(UserService(daemon.store))
        if daemon.groups is not None:
            await ensure_demo_groups(daemon.groups)
        front = await start_front_end(daemon, web)
        if front is None:
            print("cti demo: the web UI cannot start (see above); choose another port with "
                  "--web-port", file=sys.stderr, flush=True)
            await daemon.close()
            await sim.close()
            return 1
        logins = "\n".join(f"    {u:<11} {p:<16} {r}{' ' + ', '.join(e) if e else ''}"
                           for u, p, r, e, _ in DEMO_USERS)
        web_lines = (f"  web UI         {front.url}\n"
                     f"  logins (user / password / role, extensions)\n{logins}\n")
    print(f"cti demo running\n  PBX simulator  AMI {opts.host}:{sim.ami.port}  ARI {sim.ari.url}"
          f"\n{web_lines}  database       {config.db_path}\n  recordings     {opts.recordings}\n"
          f"  traffic        {opts.rate:g} calls/min (seed {opts.seed})\n"
          "Finished calls appear below. Ctrl-C to stop.", file=out, flush=True)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    try:
        await _wait(stop, seconds)
    finally:
        if front is not None:
            await front.close()
        if surveys is not None:
            await surveys.close()
        await daemon.close()
        await sim.close()
    return 0
