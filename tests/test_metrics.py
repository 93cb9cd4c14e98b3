"""``/metrics`` (Prometheus text format 0.0.4) and ``/healthz`` over real HTTP, with the daemon
connected to the simulator over real AMI TCP; and the exposition format itself."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cti.metrics import Family, Histogram, Sample, render
from tests.pbx_helpers import Stack, pbx_stack, until
from tests.web_helpers import login

TOKEN = "scrape-me-0123456789"


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with pbx_stack(tmp_path, **{"web.metrics_token": TOKEN}) as s:
        yield s


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value, for every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


async def test_metrics_need_the_token_or_a_supervisor(stack: Stack) -> None:
    client = stack.client
    anonymous = await client.get("/metrics", allow_redirects=False)
    assert anonymous.status == 401  # not a redirect to the login form
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="cti"'
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1]})
    assert wrong.status == 401
    await login(client, "agent1")
    assert (await client.get("/metrics")).status == 403
    await login(client, "boss")
    assert (await client.get("/metrics")).status == 200
    client.session.cookie_jar.clear()
    ok = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status == 200
    assert ok.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"


async def test_metrics_report_the_daemon_the_lookups_and_the_web(stack: Stack) -> None:
    assert stack.daemon.clients is not None and stack.daemon.linker is not None
    await stack.daemon.clients.create({"name": "Marie", "phones": ["+33612345678"]})
    csrf = await login(stack.client, "agent1")
    # a click-to-dial call: AMI events in, a live call, a client lookup when it ends
    resp = await stack.client.post("/api/dial", json={"number": "0612345678"},
                                   headers={"X-CSRF-Token": csrf})
    assert resp.status == 202
    linker = stack.daemon.linker
    await until(lambda: linker.lookups >= 1, timeout=30)
    await linker.flush()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    text = await (await stack.client.get("/metrics", headers=headers)).text()
    for family, kind in (("cti_ami_up", "gauge"), ("cti_ami_events_total", "counter"),
                         ("cti_ami_reconnects_total", "counter"),
                         ("cti_ami_malformed_total", "counter"), ("cti_calls_live", "gauge"),
                         ("cti_store_pending", "gauge"),
                         ("cti_client_lookup_seconds", "histogram"),
                         ("cti_websocket_clients", "gauge"),
                         ("cti_dial_requests_total", "counter")):
        assert f"# TYPE {family} {kind}\n" in text, family
        assert f"# HELP {family} " in text, family
    got = samples(text)
    assert got['cti_ami_up{pbx="default"}'] == 1
    assert got['cti_ami_events_total{pbx="default"}'] > 0
    assert got['cti_ami_reconnects_total{pbx="default"}'] == 0
    assert got['cti_ami_malformed_total{pbx="default"}'] == 0
    assert got["cti_websocket_clients"] == 0
    assert got['cti_dial_requests_total{result="sent"}'] == 1
    lookups = got["cti_client_lookup_seconds_count"]
    assert lookups == linker.lookups >= 1
    assert got['cti_client_lookup_seconds_bucket{le="+Inf"}'] == lookups
    buckets = [v for k, v in got.items() if k.startswith("cti_client_lookup_seconds_bucket")]
    assert buckets == sorted(buckets)  # cumulative
    # a dropped AMI link is a reconnect, and the link reads as down until it is back
    stack.server.drop_clients()
    await until(lambda: stack.daemon.links[0].client.snapshot().counters.disconnects == 1)
    got = samples(await (await stack.client.get("/metrics", headers=headers)).text())
    assert got['cti_ami_reconnects_total{pbx="default"}'] == 1


async def test_healthz_follows_the_ami_link_and_api_status_says_why(tmp_path: Path) -> None:
    async with pbx_stack(tmp_path, **{"pbx.ami_backoff_min": 30.0,
                                      "pbx.ami_backoff_max": 30.0}) as stack:
        client = stack.client
        healthy = await client.get("/healthz")
        assert healthy.status == 200 and await healthy.json() == {"status": "ok"}
        await login(client, "boss")
        health = (await (await client.get("/api/status")).json())["health"]
        assert health == {"ok": True, "db": "ok", "pbx": {"default": "connected"}}
        # the PBX goes away (and cti waits 30 s before trying again): unhealthy, no details
        stack.server.drop_clients()
        await until(lambda: stack.daemon.pbx_states()["default"] != "connected")
        client.session.cookie_jar.clear()
        down = await client.get("/healthz")
        assert down.status == 503 and await down.json() == {"status": "unavailable"}
        await login(client, "boss")
        health = (await (await client.get("/api/status")).json())["health"]
        assert health["ok"] is False and health["db"] == "ok"
        assert health["pbx"]["default"] in ("disconnected", "connecting")


# --------------------------------------------------------------------------- the format
def test_text_exposition_format() -> None:
    hist = Histogram((0.1, 0.5))
    for value in (0.05, 0.1, 0.3, 2.0):
        hist.observe(value)
    text = render([
        Family("cti_x_total", "Things.\nCounted \\ here.", "counter",
               (Sample({"pbx": 'a"b\\c\nd'}, 3.0), Sample({"pbx": "e"}, 0.5))),
        Family.single("cti_h_seconds", "Timing.", "histogram", hist),
        Family.single("cti_inf", "Infinite.", "gauge", math.inf),
    ])
    assert text == (
        '# HELP cti_x_total Things.\\nCounted \\\\ here.\n'
        '# TYPE cti_x_total counter\n'
        'cti_x_total{pbx="a\\"b\\\\c\\nd"} 3\n'
        'cti_x_total{pbx="e"} 0.5\n'
        '# HELP cti_h_seconds Timing.\n'
        '# TYPE cti_h_seconds histogram\n'
        'cti_h_seconds_bucket{le="0.1"} 2\n'
        'cti_h_seconds_bucket{le="0.5"} 3\n'
        'cti_h_seconds_bucket{le="+Inf"} 4\n'
        'cti_h_seconds_sum 2.45\n'
        'cti_h_seconds_count 4\n'
        '# HELP cti_inf Infinite.\n'
        '# TYPE cti_inf gauge\n'
        'cti_inf +Inf\n')
    assert re.fullmatch(r"(.+\n)+", text)
    with pytest.raises(ValueError):
        render([Family.single("cti_a", "A.", "gauge", 1.0),
                Family.single("cti_a", "A.", "gauge", 2.0)])
    with pytest.raises(ValueError):
        Histogram(())
