"""The external lookup connectors: a generic JSON URL and Dolibarr's REST API.

Both are :class:`~cti.clients.lookup.CachedLookup` subclasses, so caching, timeouts, counting
and the "never raise" rule are not theirs to get wrong; they only build a request and read the
answer. Each owns one ``aiohttp.ClientSession`` (connection reuse matters: a TLS handshake can
cost more than the lookup) unless one is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from cti.clients.lookup import (
    CachedLookup,
    ExternalContact,
    LookupChain,
    LookupFailed,
    LookupSettings,
)
from cti.phone import DEFAULT_EXTENSION_PATTERN, digits, normalize

__all__ = ["DolibarrLookup", "HttpJsonLookup", "build_chain"]

#: ExternalContact field → key in the JSON answer (dotted for nested objects).
DEFAULT_FIELDS: dict[str, str] = {
    "name": "name", "company": "company", "email": "email", "type": "type", "url": "url",
    "external_id": "id",
}


class _HttpLookup(CachedLookup):
    def __init__(self, *, timeout: float, cache_ttl: float,
                 clock: Callable[[], float] = time.monotonic,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(timeout=timeout, cache_ttl=cache_ttl, clock=clock)
        self._session = session
        self._own_session = session is None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"Accept": "application/json", "User-Agent": "cti-lookup"})
            self._own_session = True
        return self._session

    async def get_json(self, url: str, *, params: Mapping[str, str] | None = None,
                       headers: Mapping[str, str] | None = None) -> Any:
        """The decoded JSON body; None for 404 and 204 (the number is unknown); raises
        :class:`LookupFailed` for any other status outside 2xx."""
        async with self.session().get(url, params=params, headers=headers) as resp:
            if resp.status in (204, 404):
                return None
            if not 200 <= resp.status < 300:
                body = (await resp.text())[:200]
                raise LookupFailed(f"HTTP {resp.status} {body!r}", resp.status)
            return await resp.json(content_type=None)  # many CRMs answer JSON as text/html

    async def close(self) -> None:
        await super().close()
        if self._own_session and self._session is not None:
            await self._session.close()


class HttpJsonLookup(_HttpLookup):
    """``GET url`` where the template's ``{e164}`` is the number in E.164 (``+33612345678``)
    and ``{number}`` the number as the PBX presented it (``0612345678``), both URL-encoded.
    The answer is a JSON object (or a list, whose first object is taken; ``root`` is a dotted
    path to it inside a wrapper such as ``{"data": …}``); ``fields`` maps contact fields to its
    keys. A 404, ``null``, ``{}``, ``[]`` or an object with neither name nor company means
    "unknown number"."""

    name = "http"

    def __init__(self, url_template: str, *, fields: Mapping[str, str] | None = None,
                 root: str = "", headers: Mapping[str, str] | None = None,
                 timeout: float = 2.0, cache_ttl: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(timeout=timeout, cache_ttl=cache_ttl, clock=clock, session=session)
        self.url_template = url_template
        self.fields = {**DEFAULT_FIELDS, **(fields or {})}
        self.root = root
        self.headers = dict(headers or {})

    def url_for(self, e164: str, raw: str) -> str:
        # str.replace, not str.format: a URL may hold other braces (a JSON filter).
        return (self.url_template.replace("{e164}", quote(e164, safe=""))
                .replace("{number}", quote(raw, safe="")))

    async def fetch(self, e164: str, raw: str) -> ExternalContact | None:
        body = _path(await self.get_json(self.url_for(e164, raw), headers=self.headers),
                     self.root)
        if isinstance(body, list):
            body = next((item for item in body if isinstance(item, dict)), None)
        if body is None or body == {}:
            return None
        if not isinstance(body, dict):
            raise LookupFailed(f"expected a JSON object, got {type(body).__name__}")
        values = {f: _str(_path(body, key)) for f, key in self.fields.items()}
        if not values.get("name") and not values.get("company"):
            return None
        values["name"] = values.get("name") or values.get("company", "")
        return ExternalContact(source=self.name, number=e164, **values)


class DolibarrLookup(_HttpLookup):
    """Dolibarr third parties by phone, through its REST API (module "API REST" enabled, a
    user's API key in the ``DOLAPIKEY`` header).

    Dolibarr stores numbers as people typed them ("06 12 34 56 78", "+33 6 12…"), and its
    filter syntax (``(t.field:like:'value')`` joined with ``OR``) has no way to strip spaces.
    So the query asks for the last ``match_digits`` digits with ``%`` between each
    (``'%6%1%2%3%4%5%6%7%8'``), which matches every way of writing them, and each third party
    returned is then checked here by normalising its numbers, dropping false positives.
    ``phone_mobile`` exists on third parties only since Dolibarr 20: an older server answers
    the query with a 503 (unknown column), after which only ``phone`` is searched.
    Dolibarr before 20 answers 404 when nothing matches, newer ones an empty list."""

    name = "dolibarr"

    def __init__(self, base_url: str, api_key: str, *, region: str = "FR",
                 phone_fields: Sequence[str] = ("phone", "phone_mobile"),
                 match_digits: int = 9, limit: int = 20, timeout: float = 2.0,
                 cache_ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic,
                 session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(timeout=timeout, cache_ttl=cache_ttl, clock=clock, session=session)
        base = base_url.rstrip("/")
        self.base_url = base.removesuffix("/api/index.php").rstrip("/")
        self.api_key = api_key
        self.region = region
        self.phone_fields = tuple(phone_fields)
        self.match_digits = match_digits
        self.limit = limit

    def sqlfilters(self, e164: str, fields: Sequence[str] | None = None) -> str:
        pattern = "%" + "%".join(digits(e164)[-self.match_digits:])
        return " OR ".join(f"(t.{f}:like:'{pattern}')" for f in fields or self.phone_fields)

    async def fetch(self, e164: str, raw: str) -> ExternalContact | None:
        fields = self.phone_fields
        try:
            found = await self._query(e164, fields)
        except LookupFailed as exc:
            unknown_column = exc.status == 503 and "phone_mobile" in str(exc)
            if not unknown_column or "phone" not in fields or fields == ("phone",):
                raise
            self.phone_fields = fields = ("phone",)  # Dolibarr < 20: no phone_mobile column
            found = await self._query(e164, fields)
        if found is None:
            return None
        if not isinstance(found, list):
            raise LookupFailed(f"expected a JSON list, got {type(found).__name__}")
        best = self._best(found, e164)
        return None if best is None else self._contact(best, e164)

    async def _query(self, e164: str, fields: Sequence[str]) -> Any:
        params = {"sqlfilters": self.sqlfilters(e164, fields), "limit": str(self.limit),
                  "sortfield": "t.rowid", "sortorder": "ASC"}
        return await self.get_json(f"{self.base_url}/api/index.php/thirdparties",
                                   params=params, headers={"DOLAPIKEY": self.api_key})

    def _best(self, thirdparties: list[Any], e164: str) -> dict[str, Any] | None:
        """The first third party with a number equal to ``e164`` once normalised, else the
        first whose number ends with the same ``match_digits`` digits, else None."""
        tail = digits(e164)[-self.match_digits:]
        fallback = None
        for tp in thirdparties:
            if not isinstance(tp, dict):
                continue
            region = _str(tp.get("country_code")) or self.region
            for f in self.phone_fields:
                value = _str(tp.get(f))
                if not value:
                    continue
                if normalize(value, region).e164 == e164:
                    return tp
                if fallback is None and len(tail) == self.match_digits and \
                        digits(value).endswith(tail):
                    fallback = tp
        return fallback

    def _contact(self, tp: dict[str, Any], e164: str) -> ExternalContact:
        client, supplier = _str(tp.get("client")), _str(tp.get("fournisseur"))
        kind = {"1": "client", "3": "client", "2": "prospect"}.get(client, "")
        if not kind and supplier == "1":
            kind = "supplier"
        tp_id = _str(tp.get("id") or tp.get("rowid"))
        return ExternalContact(
            source=self.name, number=e164, name=_str(tp.get("name") or tp.get("nom")),
            company=_str(tp.get("name_alias")), email=_str(tp.get("email")), type=kind,
            url=f"{self.base_url}/societe/card.php?socid={quote(tp_id)}" if tp_id else "",
            external_id=tp_id)


def build_chain(settings: LookupSettings, region: str = "FR",
                extension_pattern: str = DEFAULT_EXTENSION_PATTERN,
                clock: Callable[[], float] = time.monotonic) -> LookupChain:
    """The chain the ``lookup.*`` settings describe (Dolibarr first, then the JSON URL);
    empty when neither is set, in which case every enrichment answers None at once."""
    connectors: list[CachedLookup] = []
    if settings.dolibarr_url:
        connectors.append(DolibarrLookup(
            settings.dolibarr_url, settings.dolibarr_api_key, region=region,
            timeout=settings.http_timeout, cache_ttl=settings.cache_ttl, clock=clock))
    if settings.http_url:
        connectors.append(HttpJsonLookup(settings.http_url, timeout=settings.http_timeout,
                                         cache_ttl=settings.cache_ttl, clock=clock))
    return LookupChain(connectors, region=region, extension_pattern=extension_pattern)


def _path(obj: Any, dotted: str) -> Any:
    for key in dotted.split(".") if dotted else ():
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _str(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()
