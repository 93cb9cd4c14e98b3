"""Small helpers every JSON API view shares: reading a body, reading query parameters, and
answering JSON.

Bad input is told apart from bad values: a body that is not JSON at all is a broken client
(400), a well-formed body with a wrong value is a person's mistake to show beside the field
(422, ``{"error": "validation", "field": …}`` via the domain's ``ValidationError``).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

from cti.errors import ValidationError
from cti.webapp.errors import HttpError

_dumps = partial(json.dumps, ensure_ascii=False, default=str)


def json_response(data: Any, *, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or 400."""
    raw = await request.read()
    try:
        data = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HttpError(400, "The request body is not valid JSON.", code="bad_json") from None
    if not isinstance(data, dict):
        raise HttpError(400, "The request body must be a JSON object.", code="bad_json")
    return data


def int_param(request: web.Request, name: str, default: int, *, low: int = 0,
              high: int | None = None) -> int:
    """An integer query parameter within bounds; else 422 naming it."""
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(name, "must be a whole number") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValidationError(name, f"must be {bounds}")
    return value


def str_param(request: web.Request, name: str) -> str | None:
    """A text query parameter; absent or blank is None."""
    value = request.query.get(name)
    return value.strip() if value and value.strip() else None


def path_id(request: web.Request, name: str = "id") -> int:
    """A numeric id from the route (the route's ``\\d+`` pattern already refused others)."""
    try:
        return int(request.match_info[name])
    except (KeyError, ValueError):
        raise HttpError(404) from None
