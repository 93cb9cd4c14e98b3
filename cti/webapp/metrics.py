"""``/metrics`` for Prometheus (text format 0.0.4), and the daemon's metrics provider.

Who may read it: a Prometheus scraper cannot log in through a form, so it sends the bearer
token of ``web.metrics_token`` (``Authorization: Bearer …``, compared in constant time);
a person logged in as supervisor or admin may read it in the browser. Anyone else gets 401
(with ``WWW-Authenticate: Bearer``), never a login redirect: a scraper would record the login
page as "up". The counters tell call volumes and PBX names, which is why it is not public.

What is exported (everything is read at scrape time from counters the services keep anyway,
so nothing on the call path pays for it but the lookup timing):

* per PBX: AMI link up, events in, reconnects, malformed messages, calls in progress, tracker
  errors;
* the bus, the store's write queue (pending, written, failed);
* client lookup latency (histogram, measured by the linker around the directory match);
* websocket clients (the screen-pop hub's open sockets; 0 when no hub runs);
* click-to-dial requests sent and refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from cti.ami.types import AmiState
from cti.metrics import CONTENT_TYPE, Family, Sample, render
from cti.webapp.auth import public, same_token
from cti.webapp.keys import ACTIONS, HUB, METRICS, SESSION, SETTINGS, MetricsProvider

if TYPE_CHECKING:
    from cti.daemon import Daemon


def daemon_metrics(daemon: Daemon) -> MetricsProvider:
    """The daemon's counters as metric families (read at every scrape)."""

    def collect() -> list[Family]:
        per_pbx: dict[str, list[Sample]] = {k: [] for k in (
            "up", "events", "reconnects", "malformed", "live", "tracker_errors")}
        for link in daemon.links:
            snap = link.client.snapshot()
            labels = {"pbx": link.pbx.name}
            for key, value in (
                    ("up", 1.0 if snap.state is AmiState.CONNECTED else 0.0),
                    ("events", snap.counters.events),
                    ("reconnects", snap.counters.disconnects),
                    ("malformed", snap.parser.malformed),
                    ("live", len(link.pipeline.tracker.live_calls())),
                    ("tracker_errors", link.pipeline.tracker_errors)):
                per_pbx[key].append(Sample(labels, float(value)))
        out = [
            Family("cti_ami_up", "1 when the AMI link to the PBX is logged in.", "gauge",
                   tuple(per_pbx["up"])),
            Family("cti_ami_events_total", "AMI events received.", "counter",
                   tuple(per_pbx["events"])),
            Family("cti_ami_reconnects_total", "AMI sessions that ended (each is followed by a "
                   "reconnect).", "counter", tuple(per_pbx["reconnects"])),
            Family("cti_ami_malformed_total", "AMI messages the parser could not read.",
                   "counter", tuple(per_pbx["malformed"])),
            Family("cti_calls_live", "Calls in progress, as the tracker sees them.", "gauge",
                   tuple(per_pbx["live"])),
            Family("cti_tracker_errors_total", "Events the tracker failed on (bugs).",
                   "counter", tuple(per_pbx["tracker_errors"])),
            Family.single("cti_bus_events_total", "Domain events published on the bus.",
                          "counter", float(daemon.bus.published)),
        ]
        if daemon.store is not None:
            stats = daemon.store.stats
            out += [
                Family.single("cti_store_pending", "Items waiting to be written to SQLite.",
                              "gauge", float(stats.pending)),
                Family.single("cti_store_written_total", "Items written to SQLite.", "counter",
                              float(stats.written)),
                Family.single("cti_store_failed_total", "Items SQLite refused (dropped, logged).",
                              "counter", float(stats.failed)),
            ]
        if daemon.linker is not None:
            out.append(Family.single(
                "cti_client_lookup_seconds", "Time to match a calling number to clients.",
                "histogram", daemon.linker.lookup_seconds))
        return out

    return collect


def web_metrics(app: web.Application) -> list[Family]:
    hub = app.get(HUB)
    actions = app[ACTIONS]
    return [
        Family.single("cti_websocket_clients", "Browsers connected to the screen-pop websocket.",
                      "gauge", float(hub.connected) if hub is not None else 0.0),
        Family("cti_dial_requests_total", "Click-to-dial requests, by what became of them.",
               "counter", (Sample({"result": "sent"}, float(actions.sent)),
                           Sample({"result": "refused"}, float(actions.refused)))),
    ]


def _allowed(request: web.Request) -> bool | None:
    """True: may read; False: logged in but not allowed (403); None: not authenticated."""
    token = request.app[SETTINGS].metrics_token
    auth = request.headers.get("Authorization", "")
    if token and auth[:7].lower() == "bearer " and same_token(auth[7:].strip(), token):
        return True
    sess = request.get(SESSION)
    if sess is None:
        return None
    return bool(sess.user.at_least("supervisor"))


@public  # its own check: a bearer token or a supervisor's session, 401 otherwise
async def metrics(request: web.Request) -> web.StreamResponse:
    allowed = _allowed(request)
    if allowed is None:
        return web.Response(status=401, text="401 unauthorized: send the web.metrics_token "
                            "as 'Authorization: Bearer …'\n",
                            headers={"WWW-Authenticate": 'Bearer realm="cti"'})
    if not allowed:
        return web.Response(status=403, text="403 forbidden: supervisors only\n")
    families: list[Family] = []
    for provider in request.app[METRICS]:
        families.extend(provider())
    families.extend(web_metrics(request.app))
    return web.Response(body=render(families).encode("utf-8"),
                        headers={"Content-Type": CONTENT_TYPE})

