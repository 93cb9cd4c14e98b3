"""Jinja2 pages: one environment, autoescaped, with the request's language, time zone, user
and CSRF token handed to every template by :func:`render`.

``StrictUndefined`` turns a typo in a template into an error in the tests rather than an empty
string on an agent's screen. Times are stored in UTC (epoch seconds or aware datetimes) and the
``localtime`` filter shows them in the request's zone, so two agents in different countries each
read their own clock.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from cti import __version__
from cti.webapp.i18n import pick_timezone, translator
from cti.webapp.keys import LANG, SESSION, SETTINGS, TEMPLATES

TZ_COOKIE = "cti_tz"


def make_environment(template_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=jinja2.select_autoescape(("html", "xml"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["localtime"] = localtime
    env.filters["duration"] = duration
    return env


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise TypeError(f"localtime: cannot show {value!r} as a time")


@jinja2.pass_context
def localtime(context: jinja2.runtime.Context, value: Any, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """``{{ call.started_at | localtime }}`` in the viewer's zone; '' for no time."""
    when = _as_datetime(value)
    if when is None:
        return ""
    return when.astimezone(context["tz"]).strftime(fmt)


def file_size(size: int) -> str:
    """Bytes as people read them: ``512 B``, ``12 KB``, ``3.4 MB``, ``1.2 GB``."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    if size < 1024 ** 3:
        return f"{size / 1024 ** 2:.1f} MB"
    return f"{size / 1024 ** 3:.1f} GB"


def duration(seconds: Any) -> str:
    """``75`` → ``1 min 15 s``: the form agents read at a glance."""
    if seconds is None:
        return ""
    total = round(float(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {s:02d} s"
    return f"{s} s"


def page_context(request: web.Request) -> dict[str, Any]:
    """What every template may use: ``_``, ``lang``, ``user``, ``csrf_token``, ``tz``."""
    settings = request.app[SETTINGS]
    lang = request.get(LANG) or settings.language
    sess = request.get(SESSION)
    user = sess.user if sess is not None else None
    tz = pick_timezone(user.timezone if user else None, request.cookies.get(TZ_COOKIE),
                       settings.timezone)
    return {
        "_": translator(lang),
        "lang": lang,
        "user": user,
        "csrf_token": sess.csrf_token if sess is not None else "",
        "tz": tz,
        "tz_name": str(tz.key),
        "now": dt.datetime.now(dt.UTC),
        "path": request.path,
        "version": __version__,
    }


def render(request: web.Request, name: str, context: dict[str, Any] | None = None, *,
           status: int = 200) -> web.Response:
    template = request.app[TEMPLATES].get_template(name)
    html = template.render({**page_context(request), **(context or {})})
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
