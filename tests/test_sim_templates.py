"""The call templates lose nothing: rendered with the capture's own identities and times, each
template gives back the real Asterisk capture it was built from, event for event and field for
field (CEL and RTCP reports left out by design); and the shipped JSON is what the builder makes
from the fixtures today."""

from __future__ import annotations

from importlib import resources

import pytest

from cti.ami.messages import AmiMessage
from cti.sim.scenarios import KINDS, Agent, AgentStats, CallRender, CallSpec, SimPbx
from cti.sim.templates import TEMPLATE_NAMES, Token, dumps
from cti.sim.templates.build import TemplateBuilder, source_of
from cti.sim.templates.lab import LAB_AGENTS, LAB_COMPANY, LAB_QUEUES, LAB_RECDIR
from tests.captures import FIXTURES

KIND_OF = {tpl: kind for kind, (tpl, _) in KINDS.items()}


class Identity:
    """The capture's own identities, to render a template back into its capture (a test that
    the tokens lose nothing)."""

    def __init__(self, builder: TemplateBuilder) -> None:
        self.builder = builder

    def ids(self) -> dict[Token, str]:
        b = self.builder
        out = {Token("L"): b.linkedid}
        for uid, i in b.uids.items():
            out[Token("U", (str(i),))] = uid
            out[Token("C", (str(i),))] = b.names[uid]
        for kind, table in (("B", b.bridges), ("X", b.uuids), ("SIP", b.sips)):
            for value, i in table.items():
                out[Token(kind, (str(i),))] = value
        return out

    def stats(self) -> dict[str, tuple[int, int]]:
        """Each member's ``CallsTaken``/``LastCall`` as the capture starts."""
        b = self.builder
        out: dict[str, tuple[int, int]] = {}
        for role, ext in enumerate(b.roles.agents):
            calls = b.member_base.get((str(role), "CallsTaken"))
            last = b.member_base.get((str(role), "LastCall"))
            if calls is not None and last is not None:
                out[ext] = (int(calls), int(last))
        return out

    def login_time(self) -> int:
        return next((int(m["LoginTime"]) for _, m in self.builder.events
                     if "LoginTime" in m), 0)


def identity_render(name: str) -> tuple[list[tuple[float, AmiMessage]], TemplateBuilder, str]:
    builder = TemplateBuilder(name, FIXTURES / name)
    tpl = builder.build(source_of(FIXTURES / name))
    ident = Identity(builder)
    r = builder.roles
    agents = [Agent(ext, LAB_AGENTS[ext]) for ext in r.agents]
    spec = CallSpec(KIND_OF[name], agents[0], tuple(agents[1:]), caller=r.caller,
                    caller_name=r.caller_name, did=r.did, dialled=r.dialled, queue=r.queue,
                    cid_num=r.cid_num, cid_name=r.cid_name, action_id=r.action_id,
                    variables=tuple(r.variables))
    pbx = SimPbx(trunk="trunk", company=LAB_COMPANY[0], recordings_dir=LAB_RECDIR,
                 queues=LAB_QUEUES, login_time=ident.login_time())
    for ext, (calls, last) in ident.stats().items():
        pbx.stats[ext] = AgentStats(calls, last)
    render = CallRender(spec, pbx, builder.epoch, tpl=tpl, ids=ident.ids())
    return list(render.messages()), builder, dumps(tpl)


def split(events: list[tuple[float, AmiMessage]]) -> tuple[list[tuple[float, AmiMessage]],
                                                           list[tuple[float, AmiMessage]]]:
    qms = sorted(((round(t, 4), m) for t, m in events if m["Event"] == "QueueMemberStatus"),
                 key=lambda tm: (tm[0], sorted(tm[1].items())))
    rest = [(round(t, 4), m) for t, m in events if m["Event"] != "QueueMemberStatus"]
    return rest, qms


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_template_renders_back_into_its_capture(name: str) -> None:
    got, builder, _ = identity_render(name)
    want = [(builder.epoch + t, m) for t, m in builder.events
            if builder.queue_call or not m.get("Device", "").startswith("Queue:")]
    got_rest, got_qms = split(got)
    want_rest, want_qms = split(want)
    assert len(got_rest) == len(want_rest)
    for (tg, g), (tw, w) in zip(got_rest, want_rest, strict=True):
        assert list(g.items()) == list(w.items())  # field order too
        assert tg == pytest.approx(tw, abs=1e-4)
    assert got_qms == want_qms


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_shipped_template_is_up_to_date(name: str) -> None:
    _, _, text = identity_render(name)
    shipped = resources.files("cti.sim.templates").joinpath(f"{name}.json").read_text()
    assert shipped == text
