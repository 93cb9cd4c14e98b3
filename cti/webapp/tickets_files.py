"""Ticket attachments over HTTP: upload (the ticket page's form, and ``POST
/api/tickets/{id}/attachments`` for scripts), download, and the one place the request size
limit is raised.

**Why a middleware.** The app refuses request bodies over 2 MB (``client_max_size`` in
:func:`cti.webapp.app.create_app`): a JSON body or a form has no business being bigger, and
the limit is what keeps a flood out of memory. An attachment may be bigger
(``tickets.max_attachment_mb``). aiohttp fixes the limit per request when it creates it, and
the auth middleware reads a form post (to find its CSRF token) before any view runs, so the
limit must be raised *before* auth: :func:`upload_limit` sits between the error and the auth
middlewares and, for the two upload routes only, hands on a copy of the request whose limit
is the attachment limit plus room for the form's other fields. A ``Content-Length`` already
over it is refused at once, without reading a byte.

**Never whole in memory.** A browser's form is read by aiohttp's ``post()``, which spools file
parts to a temporary file (1 MB in memory at most); a script sending ``X-CSRF-Token`` is read
part by part with ``multipart()``, straight to the attachments folder. Either way the service
gets the bytes in 64 KB chunks, writes them as they come and stops at the limit.

**Downloads** are ``Content-Disposition: attachment`` (never shown inline, so an HTML or SVG
file cannot run in the app's origin) with the stored type, ``nosniff`` (the app's headers), and
a file name cleaned for the header (``filename*`` keeps the Unicode name). A row whose file is
gone from the disk answers 410 with a message, not a crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler

from cti.tickets.attachments import (
    AttachmentRefused,
    AttachmentService,
    AttachmentSettings,
    FileMissing,
    mb_text,
)
from cti.tickets.phrases import PhraseService
from cti.webapp.api import json_response, path_id
from cti.webapp.auth import LANG_COOKIE
from cti.webapp.errors import HttpError, is_api
from cti.webapp.i18n import pick_language, translator
from cti.webapp.i18n_tickets import ATTACHMENT_MESSAGES
from cti.webapp.keys import ATTACHMENTS, CONFIG, LANG, PHRASES, SETTINGS, STORE, TICKETS
from cti.webapp.templating import render
from cti.webapp.tickets_common import visible_ticket
from cti.webapp.tickets_pages import refused_page

CHUNK = 64 * 1024
#: Room for the form's other fields and the multipart framing.
SLACK = 64 * 1024
UPLOAD_ROUTES = frozenset({"ticket_attachments", "api_ticket_attachments"})


def setup(app: web.Application) -> None:
    """The services the ticket routes need, unless the caller gave its own."""
    if ATTACHMENTS not in app:
        app[ATTACHMENTS] = AttachmentService(app[STORE], app[TICKETS],
                                             AttachmentSettings.from_config(app[CONFIG]))
    if PHRASES not in app:
        app[PHRASES] = PhraseService(app[STORE])


def _too_large(request: web.Request, service: AttachmentService) -> web.Response:
    mb = mb_text(service.settings.max_mb)
    msgid = ATTACHMENT_MESSAGES["too_large"]
    if is_api(request):
        return json_response({"error": "too_large", "message": msgid.format(mb=mb),
                              "field": "file"}, status=413)
    if LANG not in request:  # refused before the auth middleware chose the language
        request[LANG] = pick_language(None, request.cookies.get(LANG_COOKIE),
                                      request.headers.get("Accept-Language", ""),
                                      request.app[SETTINGS].language)
    _ = translator(request[LANG])
    return render(request, "error.html", {"status": 413, "message": _(msgid, mb=mb)},
                  status=413)


@web.middleware
async def upload_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The attachment limit for the upload routes (see the module doc); others untouched."""
    route = request.match_info.route.name
    if route not in UPLOAD_ROUTES or request.method != "POST" or ATTACHMENTS not in request.app:
        return await handler(request)
    service = request.app[ATTACHMENTS]
    limit = service.settings.max_bytes + SLACK
    if request.content_length is not None and request.content_length > limit:
        return _too_large(request, service)
    bigger = request.clone(client_max_size=limit)
    try:
        return await handler(bigger)
    except web.HTTPRequestEntityTooLarge:
        return _too_large(bigger, service)  # (its session and language, set by auth)


async def _spooled(file: Any) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, CHUNK):
        yield chunk


async def _streamed(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        async for decoded in part.decode_iter(chunk):
            yield decoded


async def _receive(request: web.Request, ticket_id: int, actor: str) -> Any:
    """Read the upload's ``file`` part and save it; returns the attachment. The part's file
    name is percent-decoded: browsers escape ``"`` and line breaks that way, aiohttp's client
    every non-ASCII character."""
    service = request.app[ATTACHMENTS]
    if request.can_read_body and request.content_type == "multipart/form-data" \
            and request.headers.get("X-CSRF-Token"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "file" and part.filename:
                return await service.save(ticket_id, actor, unquote(part.filename),
                                          part.headers.get("Content-Type"), _streamed(part))
            if isinstance(part, BodyPartReader):
                await part.release()
        raise AttachmentRefused("no_file", "Choose a file to attach.")
    form = await request.post()
    field = form.get("file")
    if not isinstance(field, web.FileField) or not field.filename:
        raise AttachmentRefused("no_file", "Choose a file to attach.")
    try:
        return await service.save(ticket_id, actor, unquote(field.filename),
                                  field.content_type, _spooled(field.file))
    finally:
        field.file.close()


async def upload_page(request: web.Request) -> web.StreamResponse:
    user, _viewer, ticket = await visible_ticket(request, path_id(request))
    try:
        await _receive(request, ticket.id, user.username)
    except AttachmentRefused as exc:
        return await refused_page(request, user, ticket, "files", exc, {})
    raise web.HTTPSeeOther(f"/tickets/{ticket.id}?done=attachment#files")


async def upload_api(request: web.Request) -> web.StreamResponse:
    user, _viewer, ticket = await visible_ticket(request, path_id(request))
    try:
        attachment = await _receive(request, ticket.id, user.username)
    except AttachmentRefused as exc:
        status = 413 if exc.code == "too_large" else 415 if exc.code != "no_file" else 400
        raise HttpError(status, exc.message, code=exc.code, field="file") from exc
    return json_response(attachment.to_json(), status=201,
                         headers={"Location": attachment.to_json()["url"]})


def disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact one in ``filename*``."""
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in " ._-()") else "_"
                         for c in name).strip() or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def download(request: web.Request) -> web.StreamResponse:
    _user, _viewer, ticket = await visible_ticket(request, path_id(request))
    service = request.app[ATTACHMENTS]
    attachment = await service.get(ticket.id, path_id(request, "aid"))
    try:
        path = service.path_of(attachment)
    except FileMissing:
        raise HttpError(410, "The file of this attachment is missing on the server.",
                        code="gone") from None
    ctype = attachment.content_type
    if ctype not in service.settings.types:
        ctype = "application/octet-stream"  # a type since removed from the allow-list
    return web.FileResponse(path, headers={
        "Content-Type": ctype, "Content-Disposition": disposition(attachment.name),
        "X-Content-Type-Options": "nosniff"})


async def list_api(request: web.Request) -> web.StreamResponse:
    _user, _viewer, ticket = await visible_ticket(request, path_id(request))
    files = await request.app[ATTACHMENTS].list(ticket.id)
    return json_response({"attachments": [a.to_json() for a in files]})


def add_routes(app: web.Application) -> None:
    r = app.router
    one = r"/tickets/{id:\d+}"
    api = r"/api/tickets/{id:\d+}"
    r.add_post(one + "/attachments", upload_page, name="ticket_attachments")
    r.add_get(one + r"/attachments/{aid:\d+}", download, name="ticket_attachment")
    r.add_get(api + "/attachments", list_api, name="api_ticket_attachment_list")
    r.add_post(api + "/attachments", upload_api, name="api_ticket_attachments")

