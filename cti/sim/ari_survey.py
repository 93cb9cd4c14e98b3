"""What the post-call survey needs of the simulated ARI: stopping a playback, and a caller who
reaches ``Stasis(cti,survey,…)`` once their agent has hung up.

``DELETE /ari/playbacks/{id}`` follows ``resource_playbacks.c`` and ``res_stasis_playback.c`` of
Asterisk 22 (documentation and source; no capture of it yet):

* an unknown id — never created, or already finished, since Asterisk forgets a playback when
  it ends — is ``404 {"message": "Playback not found"}``; otherwise the answer is ``204``;
* a ``playing`` playback is stopped (``AST_CONTROL_STREAM_STOP``): the rest of its media list is
  skipped, and ``PlaybackFinished`` comes with state ``done`` (``state_to_string`` reports
  *stopped*, *canceled* and *complete* all as ``done``);
* a ``queued`` one is canceled: Asterisk publishes its ``PlaybackFinished`` (``done``, no
  ``PlaybackStarted``) when its turn would have come; the simulator publishes it at once.

``POST /ari/channels/{id}/continue`` (``ast_ari_channels_continue_in_dialplan``): 404/409 like
every channel operation, else ``204``; the channel leaves the app (``StasisEnd``) and Stasis()
returns with ``STASISSTATUS=SUCCESS``. The simulator has no dialplan: given a ``context`` or
``extension`` it only moves the channel there (it stays up, out of Stasis); without, the
channel goes on after Stasis() and does what ``[cti-survey]`` does there — ``Hangup()``
(cause 16, seen by observers only).

:func:`survey_caller` is modelled on the ``ari_stasis`` capture (the channel snapshot, the
``StasisStart`` with its ``args``) and on what Asterisk does with ``Dial(…,g)``/``Queue(…,c)``:
the caller's channel, ``Up`` since the agent answered, goes on in the dialplan when the agent
hangs up and enters Stasis from there — same channel, same Uniqueid and Linkedid, so no
``ChannelCreated``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from cti.sim.ari_model import SimChannel, SimPlayback, channel_event, parse_callerid
from cti.sim.ari_routes import AriError, int_param, request_params, text_param

if TYPE_CHECKING:
    from cti.sim.ari_server import AriServer


def stop_playback(server: AriServer, playback: SimPlayback) -> None:
    """Stop (playing) or cancel (queued) ``playback``: ``PlaybackFinished``, state ``done``."""
    playback.state = "done"
    server.playbacks.pop(playback.id, None)
    task = server._playback_tasks.pop(playback.id, None)
    if task is not None:
        task.cancel()
    server._playback_event("PlaybackFinished", playback)


def add_survey_routes(app: web.Application, server: AriServer) -> None:
    async def stop(request: web.Request) -> web.StreamResponse:
        playback = server.playbacks.get(request.match_info["playback_id"])
        if playback is None:
            raise AriError(404, "Playback not found")
        stop_playback(server, playback)
        return web.Response(status=204)

    async def continue_in_dialplan(request: web.Request) -> web.StreamResponse:
        chan = server.channels.get(request.match_info["channel_id"])
        if chan is None:
            raise AriError(404, "Channel not found")
        app_name = chan.stasis_app
        if app_name is None:
            raise AriError(409, "Channel not in Stasis application")
        params = await request_params(request)
        context, exten = text_param(params, "context"), text_param(params, "extension")
        server._stop_playbacks(chan)
        server._publish(channel_event("StasisEnd", server.clock(), chan), chan, only_app=app_name)
        chan.stasis_app = None
        chan.subscribers.discard(app_name)
        chan.variables["STASISSTATUS"] = "SUCCESS"
        chan.app_name = chan.app_data = ""
        if context or exten:
            chan.context, chan.exten = context or chan.context, exten or chan.exten
            chan.priority = int_param(params, "priority") or 1
        else:
            chan.priority += 1
            server._hangup(chan, 16, explicit=False)
        return web.Response(status=204)

    app.router.add_delete("/ari/playbacks/{playback_id}", stop)
    app.router.add_post("/ari/channels/{channel_id}/continue", continue_in_dialplan)


def survey_caller(server: AriServer, linkedid: str, *, language: str = "en",
                  lang_arg: str | None = None, caller: str = "+33612345678",
                  did: str = "0155512345", app: str = "cti", state: str = "Up") -> SimChannel:
    """The caller of call ``linkedid`` sent by the dialplan to
    ``Stasis(app,survey,<linkedid>,<lang_arg>)`` (``lang_arg`` None: ``language``, the
    channel's own ``CHANNEL(language)``; ``""``: the dialplan passed none). Raises
    :class:`LookupError` when no WebSocket registered ``app`` (Asterisk's Stasis() would fail
    at once and the dialplan hang up)."""
    if app not in server.registered_apps:
        raise LookupError(f"Stasis app {app!r} is not registered (no /ari/events socket)")
    now = server.clock()
    server._seq += 1
    server._name_seq += 1
    chan = SimChannel(
        id=f"{int(now)}.{server._seq}", name=f"PJSIP/trunk-{server._name_seq:08x}",
        state=state, created=now, caller=parse_callerid(caller), context="cti-survey",
        exten="s", priority=3, language=language, linkedid=linkedid,
        protocol_id=f"{server._name_seq}-survey@127.0.0.1")
    chan.connected = ("", did)
    server.channels[chan.id] = chan
    server._enter_stasis(chan, app, ["survey", linkedid,
                                    language if lang_arg is None else lang_arg])
    return chan
