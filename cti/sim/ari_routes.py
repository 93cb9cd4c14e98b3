"""The REST resources of the simulator's ARI (:mod:`cti.sim.ari_server` holds the behaviour).

Checks and messages follow ``res/ari/resource_channels.c`` of Asterisk 22:

* channel operations go through ``find_control``: an unknown id is ``404 Channel not found``, a
  live channel outside Stasis ``409 Channel not in Stasis application``; ring, answer, play and
  dtmf then refuse an outgoing channel not yet answered (``Down``, ``Ringing``) with ``412
  Channel in invalid state``;
* ``DELETE /channels/{id}`` finds the channel by id *or name* (``ast_channel_get_by_name``),
  takes ``reason_code`` (any number) or ``reason`` (``normal``, ``busy``…; not both) and
  defaults to cause 16;
* ``POST /channels`` (originate) needs ``endpoint`` as ``tech/resource`` and ``app`` or
  ``extension``; it answers ``200`` with the new channel, ``Down``, whose caller *and* connected
  line are ``callerId`` (``ast_set_callerid`` then the connected line, as Asterisk does);
* integer parameters are read like ``atoi`` (``skipms=abc`` is 0), as the generated stubs do.

Parameters come from the query string, then a form body, then a JSON object body (which wins,
as ``*_parse_body`` overwrites the parsed query).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from cti.sim.ari_model import HANGUP_REASONS, SimChannel, asterisk_info, parse_callerid

if TYPE_CHECKING:
    from cti.sim.ari_server import AriServer

log = logging.getLogger(__name__)
_INVALID_STATES = frozenset({"Down", "Rsrvd", "Ringing"})
_ATOI = re.compile(r"^\s*[+-]?\d+")
_HTML_ERROR = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n'
    "<title>{status} {title}</title>\r\n</head><body>\r\n<h1>{title}</h1>\r\n<p>{text}</p>\r\n"
    "<hr />\r\n<address>Asterisk Server</address>\r\n</body></html>\r\n")


def dumps(obj: object) -> str:
    """Compact JSON, as ``ari.conf`` ``pretty = no`` writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class AriError(Exception):
    """An ARI failure answer: rendered as ``{"message": …}`` with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status, dumps=dumps)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def html_error(status: int, title: str, text: str) -> web.Response:
    """``ast_http_error``: what the WebSocket upgrade answers before ARI's JSON layer."""
    return web.Response(status=status, content_type="text/html",
                        text=_HTML_ERROR.format(status=status, title=title, text=text))


async def request_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in request.query.items():
        params.setdefault(key, value)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise AriError(400, "Error parsing request body") from None
        if not isinstance(body, dict):
            raise AriError(400, "Error parsing request body")
        params.update(body)
    elif request.content_type == "application/x-www-form-urlencoded":
        for key, field in (await request.post()).items():
            if isinstance(field, str):
                params.setdefault(key, field)
    return params


def text_param(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise AriError(400, f"Invalid value for parameter '{key}'")


def int_param(params: dict[str, Any], key: str) -> int:
    match = _ATOI.match(text_param(params, key))
    return int(match.group()) if match else 0


def list_param(request: web.Request, params: dict[str, Any], key: str) -> list[str]:
    """``allowMultiple`` parameters: repeated and/or comma-separated (``media=a,b&media=c``)."""
    value = params.get(key)
    if isinstance(value, list):
        raw: list[Any] = value
    elif isinstance(value, str) and value == request.query.get(key):
        raw = request.query.getall(key)  # from the query string, maybe repeated
    else:
        raw = [] if value is None else [value]
    if not all(isinstance(v, str) for v in raw):
        raise AriError(400, f"Invalid value for parameter '{key}'")
    return [item.strip() for v in raw for item in v.split(",") if item.strip()]


class _Resources:
    def __init__(self, server: AriServer) -> None:
        self.server = server

    def control(self, channel_id: str) -> SimChannel:
        """``find_control`` and ``channel_state_invalid``."""
        chan = self.server.channels.get(channel_id)
        if chan is None:
            try:
                self.server._channel(channel_id, by_name=True)
            except KeyError:
                raise AriError(404, "Channel not found") from None
            raise AriError(409, "Channel not in Stasis application")
        if chan.stasis_app is None:
            raise AriError(409, "Channel not in Stasis application")
        if chan.state in _INVALID_STATES:
            raise AriError(412, "Channel in invalid state")
        return chan

    async def info(self, request: web.Request) -> web.StreamResponse:
        only = {s.strip().lower() for v in request.query.getall("only", []) for s in v.split(",")}
        srv = self.server
        return json_response(asterisk_info(srv.version, srv.asterisk_id, srv._started,
                                           only - {""}))

    async def list_channels(self, request: web.Request) -> web.StreamResponse:
        return json_response([c.to_json() for c in self.server.channels.values()])

    async def get_channel(self, request: web.Request) -> web.StreamResponse:
        chan = self.server.channels.get(request.match_info["channel_id"])
        if chan is None:
            raise AriError(404, "Channel not found")
        return json_response(chan.to_json())

    async def originate(self, request: web.Request) -> web.StreamResponse:
        srv = self.server
        params = await request_params(request)
        channel_id = request.match_info.get("channel_id") or text_param(params, "channelId")
        endpoint = text_param(params, "endpoint")
        if not endpoint:
            raise AriError(400, "Endpoint must be specified")
        tech, _, resource = endpoint.partition("/")
        if not tech or not resource:
            raise AriError(400, "Invalid endpoint specified")
        app, extension = text_param(params, "app"), text_param(params, "extension")
        if not app and not extension:
            raise AriError(400, "Application or extension must be specified")
        variables = params.get("variables") or {}
        if not isinstance(variables, dict) or not all(
                isinstance(v, str) for v in variables.values()):
            raise AriError(400, "Only string values in the 'variables' object allowed")
        if channel_id and channel_id in srv.channels:
            raise AriError(409, "Channel with given unique ID already exists")
        caller = parse_callerid(text_param(params, "callerId"))
        if app:
            chan = srv._new_channel(endpoint, "Down", caller, caller, "default", "s", channel_id)
            args = [a for a in text_param(params, "appArgs").split(",") if a]
            chan.subscribers.add(app)
            srv._on_answer[chan.id] = (app, args)
        else:
            chan = srv._new_channel(endpoint, "Down", caller, caller,
                                    text_param(params, "context") or "default", extension,
                                    channel_id)
            chan.priority = int_param(params, "priority") or 1
        chan.variables.update(variables)
        if srv.answer_delay is not None:
            srv._spawn(srv._auto_answer(chan.id, srv.answer_delay))
        return json_response(chan.to_json())

    async def hangup(self, request: web.Request) -> web.StreamResponse:
        srv = self.server
        try:
            chan = srv._channel(request.match_info["channel_id"], by_name=True)
        except KeyError:
            raise AriError(404, "Channel not found") from None
        params = await request_params(request)
        reason, code = text_param(params, "reason"), text_param(params, "reason_code")
        if reason and code:
            raise AriError(400, "The reason and reason_code can't both be specified")
        if code:
            if not _ATOI.match(code):
                raise AriError(400, "Invalid reason for hangup reason code provided")
            cause = int_param(params, "reason_code")
        elif reason:
            if reason not in HANGUP_REASONS:
                raise AriError(400, "Invalid reason for hangup reason provided")
            cause = HANGUP_REASONS[reason]
        else:
            cause = 16
        srv._hangup(chan, cause, explicit=True)
        return web.Response(status=204)

    async def ring(self, request: web.Request) -> web.StreamResponse:
        self.control(request.match_info["channel_id"])  # 180 Ringing; the state stays Ring
        return web.Response(status=204)

    async def answer(self, request: web.Request) -> web.StreamResponse:
        self.server._set_state(self.control(request.match_info["channel_id"]), "Up")
        return web.Response(status=204)

    async def play(self, request: web.Request) -> web.StreamResponse:
        chan = self.control(request.match_info["channel_id"])
        params = await request_params(request)
        media = list_param(request, params, "media")
        if not media:
            raise AriError(400, "Missing required parameter 'media'")
        for key in ("skipms", "offsetms"):
            if int_param(params, key) < 0:
                raise AriError(400, f"{key} cannot be negative")
        playback_id = request.match_info.get("playback_id") or text_param(params, "playbackId")
        if playback_id in self.server.playbacks:
            raise AriError(409, "Playback with given ID already exists")
        lang = text_param(params, "lang") or chan.language
        playback = self.server._start_playback(chan, media, lang, playback_id)
        response = json_response(playback.to_json(), status=201)
        response.headers["Location"] = f"/ari/playbacks/{playback.id}"
        return response

    async def send_dtmf(self, request: web.Request) -> web.StreamResponse:
        self.control(request.match_info["channel_id"])
        if not text_param(await request_params(request), "dtmf"):
            raise AriError(400, "DTMF is required")
        return web.Response(status=204)  # sent towards the caller: no event comes back

    async def get_playback(self, request: web.Request) -> web.StreamResponse:
        playback = self.server.playbacks.get(request.match_info["playback_id"])
        if playback is None:
            raise AriError(404, "Playback not found")
        return json_response(playback.to_json())

    async def events(self, request: web.Request) -> web.StreamResponse:
        apps = [a.strip() for v in request.query.getall("app", []) for a in v.split(",")]
        if not apps:
            return html_error(400, "Bad Request", "Missing param 'app'")
        if not all(apps):
            return html_error(400, "Bad Request", "Invalid application provided in param 'app'.")
        ws = web.WebSocketResponse()
        if not ws.can_prepare(request).ok:
            return html_error(426, "Upgrade Required", "")
        await ws.prepare(request)
        subscribe_all = request.query.get("subscribeAll", "").lower() in ("true", "yes", "1")
        await self.server._listen(ws, list(dict.fromkeys(apps)), subscribe_all)
        return ws


def add_routes(app: web.Application, server: AriServer) -> None:
    r = _Resources(server)
    chan = "/ari/channels/{channel_id}"
    app.router.add_get("/ari/asterisk/info", r.info)
    app.router.add_get("/ari/channels", r.list_channels)
    app.router.add_post("/ari/channels", r.originate)
    app.router.add_get(chan, r.get_channel)
    app.router.add_post(chan, r.originate)
    app.router.add_delete(chan, r.hangup)
    app.router.add_post(chan + "/ring", r.ring)
    app.router.add_post(chan + "/answer", r.answer)
    app.router.add_post(chan + "/play", r.play)
    app.router.add_post(chan + "/play/{playback_id}", r.play)
    app.router.add_post(chan + "/dtmf", r.send_dtmf)
    app.router.add_get("/ari/playbacks/{playback_id}", r.get_playback)
    app.router.add_get("/ari/events", r.events)


def authorised(server: AriServer, request: web.Request) -> bool:
    """``authenticate_user``: a basic ``Authorization`` header if there is a valid one, else the
    ``api_key`` query parameter (``user:password``)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic" and token:
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        if ":" in decoded:
            user, _, password = decoded.partition(":")
            return (user, password) == (server.username, server.password)
    api_key = next((v for k, v in request.query.items() if k.lower() == "api_key"), None)
    if api_key is None or ":" not in api_key:
        return False
    user, _, password = api_key.partition(":")
    return (user, password) == (server.username, server.password)


def ari_middleware(server: AriServer) -> Middleware:
    """Authentication first (even for unknown resources, as ``ast_ari_callback`` does), then
    the resource; every failure becomes ``{"message": …}``, and a bug a 500, never a crash."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not authorised(server, request):
            server.auth_failures += 1
            response = error_response(401, "Authentication required")
            response.headers["WWW-Authenticate"] = 'Basic realm="Asterisk REST Interface"'
            return response
        try:
            return await handler(request)
        except AriError as exc:
            return error_response(exc.status, exc.message)
        except web.HTTPMethodNotAllowed:
            return error_response(405, "Invalid method")
        except web.HTTPNotFound:
            return error_response(404, "Resource not found")
        except web.HTTPException:
            raise
        except Exception:
            server.handler_errors += 1
            log.exception("ARI simulator: %s %s failed", request.method, request.path)
            return error_response(500, "Internal Server Error")

    return middleware
