"""What calls the simulated company gets: configuration and the random call mix.

:class:`Traffic` draws one :class:`~cti.sim.scenarios.CallSpec` at a time from a seeded
``random.Random``: Poisson arrivals at ``calls_per_minute``, a weighted scenario mix, an answer
probability, ring times and a lognormal talk time with a given mean. It knows which agents are
on a call (``busy_until``) and behaves as the lab PBX would:

* a queue (``ringinuse = no``) rings only its free members; with nobody free the caller would
  wait until the queue times out (no capture of that), so the simulator makes it a direct call;
* a direct call to a busy agent's phone is rejected with *486 Busy Here* after a moment of
  ringing, which Asterisk reports as ``DialStatus: BUSY`` (the ``inbound_busy`` scenario);
* a busy agent does not start an outbound, internal or click-to-dial call, and is not the
  callee of an internal call or the target of a transfer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from cti.sim.recording import Dialogue, make_dialogue
from cti.sim.scenarios import ANSWERED_KINDS, Agent, CallSpec

DEFAULT_AGENTS = (Agent("1001", "Alice Martin"), Agent("1002", "Bruno Petit"),
                  Agent("1003", "Chloe Durand"), Agent("1004", "David Moreau"))
DEFAULT_MIX: dict[str, float] = {
    "inbound": 0.35, "queue": 0.2, "outbound": 0.2, "internal": 0.08, "blind_transfer": 0.07,
    "long_call": 0.03, "click_to_dial": 0.07,
}
CALLER_NAMES = ("Marie Dupont", "Paul Leroy", "Julie Bernard", "Lucas Girard", "Emma Petit",
                "Hugo Lambert", "Camille Roux", "Jean Moreau", "Sarah Fournier", "Louis Martin",
                "Ioana Popescu", "Andrei Ionescu")


@dataclass(frozen=True)
class QueueConfig:
    name: str
    did: str
    members: tuple[str, ...]  # extensions, rung all at once (ringall)


@dataclass(frozen=True)
class SimConfig:
    """The simulated company and its traffic. Times in seconds."""

    agents: tuple[Agent, ...] = DEFAULT_AGENTS
    trunk: str = "trunk"
    dids: tuple[str, ...] = ("0155512345",)
    queues: tuple[QueueConfig, ...] = (QueueConfig("support", "0155512346", ("1001", "1002")),)
    company: str = "ACME Support"
    recordings_dir: str | None = None  # folder for the WAVs; None: announce names, write none
    calls_per_minute: float = 1.5
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    answer_probability: float = 0.8
    busy_share: float = 0.3  # of unanswered inbound calls, how many the agent rejects (486)
    ring: tuple[float, float] = (2.0, 12.0)  # answered calls: uniform range
    unanswered_ring: tuple[float, float] = (8.0, 30.0)
    talk_mean: float = 60.0  # lognormal talk time, mean
    talk_sigma: float = 0.6
    long_talk_mean: float = 900.0
    min_talk: float = 3.0
    time_scale: float = 1.0  # 60: one simulated minute per real second
    speech: bool = True  # espeak-ng dialogue in recordings when available
    languages: tuple[str, ...] = ("fr", "en")
    originate_agent_ring: float = 2.0  # AMI Originate: the agent's phone rings this long
    originate_remote_ring: float = 4.0
    originate_answer_probability: float = 1.0

    def agent(self, extension: str) -> Agent | None:
        return next((a for a in self.agents if a.extension == extension), None)


@dataclass(frozen=True)
class PlannedCall:
    spec: CallSpec
    dialogue: Dialogue | None


class Traffic:
    """Seeded source of calls; deterministic for a seed and a sequence of ``busy_until``."""

    def __init__(self, config: SimConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.busy_until: dict[str, float] = {}
        self.count = 0

    # ------------------------------------------------------------------ draws
    def gap(self) -> float:
        """Seconds to the next arrival (exponential: Poisson arrivals)."""
        rate = self.config.calls_per_minute / 60.0
        return self.rng.expovariate(rate) if rate > 0 else math.inf

    def talk(self, mean: float | None = None) -> float:
        c = self.config
        m = mean or c.talk_mean
        mu = math.log(m) - c.talk_sigma ** 2 / 2
        return round(max(c.min_talk, self.rng.lognormvariate(mu, c.talk_sigma)), 3)

    def ring(self, answered: bool = True) -> float:
        lo, hi = self.config.ring if answered else self.config.unanswered_ring
        return round(self.rng.uniform(lo, hi), 3)

    def caller(self) -> tuple[str, str]:
        number = "+33" + self.rng.choice("67") + "".join(
            str(self.rng.randrange(10)) for _ in range(8))
        return number, self.rng.choice(CALLER_NAMES)

    def national(self) -> str:
        return "0" + self.rng.choice("1234567") + "".join(
            str(self.rng.randrange(10)) for _ in range(8))

    def free(self, at: float) -> list[Agent]:
        return [a for a in self.config.agents if self.busy_until.get(a.extension, 0.0) <= at]

    # ------------------------------------------------------------------ the mix
    def next_call(self, at: float) -> PlannedCall | None:
        """One call starting at ``at`` (epoch seconds), or ``None`` if nobody can make it."""
        c = self.config
        kinds = [k for k, w in c.mix.items() if w > 0]
        if not kinds or not c.agents:
            return None
        group = self.rng.choices(kinds, weights=[c.mix[k] for k in kinds])[0]
        maker = {"inbound": self._inbound, "queue": self._queue, "outbound": self._outbound,
                 "internal": self._internal, "blind_transfer": self._transfer,
                 "long_call": self._long, "click_to_dial": self._click_to_dial}.get(group)
        spec = maker(at) if maker else None
        if spec is None:
            return None
        self.count += 1
        dialogue = None
        if spec.kind in ANSWERED_KINDS:
            dialogue = make_dialogue(self.rng, c.company, spec.agent.name,
                                     self.rng.choice(c.languages or ("en",)))
        return PlannedCall(spec, dialogue)

    def _inbound(self, at: float, talk_mean: float | None = None) -> CallSpec:
        c = self.config
        number, name = self.caller()
        did = self.rng.choice(c.dids or ("0155512345",))
        free = self.free(at)
        if not free:  # the phone rejects the call: 486 Busy Here
            return CallSpec("inbound_busy", self.rng.choice(c.agents), caller=number,
                            caller_name=name, did=did, ring=round(self.rng.uniform(0.3, 1.5), 3))
        agent = self.rng.choice(free)
        if self.rng.random() < c.answer_probability:
            kind = "long_call" if talk_mean else "inbound_answered"
            return CallSpec(kind, agent, caller=number, caller_name=name, did=did,
                            ring=self.ring(), talk=self.talk(talk_mean))
        if self.rng.random() < c.busy_share:
            return CallSpec("inbound_busy", agent, caller=number, caller_name=name, did=did,
                            ring=round(self.rng.uniform(1.0, 8.0), 3))
        return CallSpec("inbound_missed", agent, caller=number, caller_name=name, did=did,
                        ring=self.ring(answered=False))

    def _long(self, at: float) -> CallSpec:
        return self._inbound(at, talk_mean=self.config.long_talk_mean)

    def _queue(self, at: float) -> CallSpec | None:
        c = self.config
        if not c.queues:
            return self._inbound(at)
        queue = self.rng.choice(c.queues)
        free_ext = {a.extension for a in self.free(at)}
        members = [a for m in queue.members if m in free_ext and (a := c.agent(m)) is not None]
        if not members:  # ringinuse=no: the queue would ring nobody; call someone directly
            return self._inbound(at)
        number, name = self.caller()
        if self.rng.random() >= c.answer_probability:
            return CallSpec("inbound_missed", self.rng.choice(members), caller=number,
                            caller_name=name, did=queue.did, ring=self.ring(answered=False))
        agent = self.rng.choice(members)
        others = tuple(m for m in members if m != agent)
        return CallSpec("queue_ringall", agent, others, caller=number, caller_name=name,
                        did=queue.did, queue=queue.name, ring=self.ring(), talk=self.talk())

    def _outbound(self, at: float) -> CallSpec | None:
        free = self.free(at)
        if not free:
            return None
        agent = self.rng.choice(free)
        did = (self.config.dids or ("0155512345",))[0]
        if self.rng.random() < self.config.answer_probability:
            return CallSpec("outbound_answered", agent, dialled=self.national(), did=did,
                            ring=self.ring(), talk=self.talk())
        return CallSpec("outbound_no_answer", agent, dialled=self.national(), did=did,
                        ring=self.ring(answered=False))

    def _internal(self, at: float) -> CallSpec | None:
        free = self.free(at)
        if len(free) < 2:
            return None
        agent, callee = self.rng.sample(free, 2)
        return CallSpec("internal", agent, (callee,), ring=self.ring(),
                        talk=self.talk(self.config.talk_mean / 3))

    def _transfer(self, at: float) -> CallSpec | None:
        free = self.free(at)
        if len(free) < 2:
            return self._inbound(at)
        agent, target = self.rng.sample(free, 2)
        number, name = self.caller()
        talk = max(20.0, self.talk())
        after = round(talk * self.rng.uniform(0.2, 0.5), 3)
        ring2 = round(self.rng.uniform(2.0, 6.0), 3)
        return CallSpec("blind_transfer", agent, (target,), caller=number, caller_name=name,
                        did=self.rng.choice(self.config.dids or ("0155512345",)),
                        ring=self.ring(), talk=max(talk, after + ring2 + 5), transfer_after=after,
                        target_ring=ring2)

    def _click_to_dial(self, at: float) -> CallSpec | None:
        free = self.free(at)
        if not free:
            return None
        agent = self.rng.choice(free)
        number = self.national()
        agent_ring = round(self.rng.uniform(1.5, 4.0), 3)
        return CallSpec("click_to_dial", agent, dialled=number,
                        did=(self.config.dids or ("0155512345",))[0], cid_num=number,
                        cid_name="Click2Dial", action_id=f"sim-c2d-{self.count + 1}",
                        agent_ring=agent_ring, ring=agent_ring + self.ring(), talk=self.talk())
