"""External caller lookup: ask a CRM (a JSON URL, Dolibarr) who is calling, without ever making
the screen pop wait for it.

Why it is built this way:

* **Local first, external after.** The client directory answers in a millisecond from SQLite;
  a CRM over HTTP takes tens of milliseconds when well, seconds when not, and sometimes never.
  :class:`LookupChain` therefore runs the external lookup in a background task *while* the local
  match is made, hands back the local answer as soon as it is there, and delivers the external
  contact later through a callback (which pushes an update to the already shown card).
* **Never raises.** A connector turns every failure (timeout, refused connection, HTTP 500, a
  body that is not JSON) into ``None``, logs it and counts it in :class:`LookupStats`: a broken
  CRM must not break call handling, but someone must be able to see that it is broken.
* **Bounded.** Each request has a total timeout (``lookup.http_timeout``); answers are cached
  for ``lookup.cache_ttl`` seconds, *including* "not found" (most callers are not in the CRM, and
  a busy line would otherwise query it on every ring); failures are cached briefly so a dead
  server is not asked again on every call; concurrent lookups of one number share one request.

The connectors themselves (:class:`HttpJsonLookup`, :class:`DolibarrLookup`) live in
:mod:`cti.clients.connectors`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from cti.phone import DEFAULT_EXTENSION_PATTERN, normalize

if TYPE_CHECKING:
    from cti.config import Config

__all__ = [
    "CachedLookup",
    "ExternalContact",
    "LookupChain",
    "LookupFailed",
    "LookupSettings",
    "LookupStats",
]

log = logging.getLogger(__name__)

L = TypeVar("L")

#: Longest time a failed lookup is remembered (a dead CRM is asked again after this).
ERROR_TTL = 30.0


@dataclass(frozen=True, slots=True)
class ExternalContact:
    """Who a CRM says a number belongs to. ``source`` names the connector (``http``,
    ``dolibarr``); ``url`` links to the record in the CRM; ``external_id`` is its id there."""

    source: str
    number: str
    name: str
    company: str = ""
    email: str = ""
    type: str = ""
    url: str = ""
    external_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LookupSettings:
    """The ``lookup.*`` settings as one value, so tests need no configuration file."""

    http_url: str = ""
    http_timeout: float = 2.0
    cache_ttl: float = 3600.0
    dolibarr_url: str = ""
    dolibarr_api_key: str = ""

    def __post_init__(self) -> None:
        if self.http_timeout <= 0:
            raise ValueError("lookup.http_timeout must be > 0")
        if self.cache_ttl < 0:
            raise ValueError("lookup.cache_ttl must be >= 0")
        if self.http_url and "{e164}" not in self.http_url and "{number}" not in self.http_url:
            raise ValueError("lookup.http_url must contain {e164} or {number}")
        if self.dolibarr_url and not self.dolibarr_api_key:
            raise ValueError("lookup.dolibarr_url is set but lookup.dolibarr_api_key is not")

    @classmethod
    def from_config(cls, config: Config) -> LookupSettings:
        return cls(
            http_url=str(config.get("lookup.http_url") or ""),
            http_timeout=float(config.get("lookup.http_timeout")),
            cache_ttl=float(config.get("lookup.cache_ttl")),
            dolibarr_url=str(config.get("lookup.dolibarr_url") or ""),
            dolibarr_api_key=str(config.get("lookup.dolibarr_api_key") or ""),
        )


@dataclass
class LookupStats:
    """Counters of one connector, for the status line and the health page."""

    lookups: int = 0
    cache_hits: int = 0
    found: int = 0
    not_found: int = 0
    errors: int = 0
    timeouts: int = 0
    last_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class LookupFailed(Exception):
    """A connector's fetch failed in an expected way (bad status, bad body): logged, counted,
    never seen by callers of :meth:`CachedLookup.lookup`. ``status``: the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Entry:
    expires: float
    contact: ExternalContact | None


class CachedLookup:
    """Base of the connectors: the cache, the coalescing of concurrent requests, the timeout,
    the counters and the "never raise" rule. Subclasses implement :meth:`fetch`, which may raise
    :class:`LookupFailed`, ``aiohttp.ClientError``, ``TimeoutError`` or ``ValueError`` for what
    a CRM can do wrong. Any other exception is a bug of the connector: it is logged with its
    traceback and counted, but still not raised, since it would otherwise surface in the
    middle of call handling, far from its cause."""

    name = "lookup"

    def __init__(self, *, timeout: float = 2.0, cache_ttl: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000) -> None:
        self.timeout = timeout
        self.cache_ttl = cache_ttl
        self.clock = clock
        self.max_entries = max_entries
        self.stats = LookupStats()
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[ExternalContact | None]] = {}

    async def fetch(self, e164: str, raw: str) -> ExternalContact | None:
        raise NotImplementedError

    async def close(self) -> None:
        """Cancel requests in flight; subclasses also close their HTTP session."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def lookup(self, e164: str, raw: str = "") -> ExternalContact | None:
        """The contact for ``e164`` (``raw``: the number as the PBX gave it), or None when the
        CRM does not know it or cannot be asked. Never raises (except on cancellation)."""
        self.stats.lookups += 1
        entry = self._cache.get(e164)
        if entry is not None and entry.expires > self.clock():
            self.stats.cache_hits += 1
            return entry.contact
        task = self._inflight.get(e164)
        if task is None:  # one request per number, however many cards are waiting for it
            task = asyncio.create_task(self._fetch_and_store(e164, raw or e164),
                                       name=f"lookup {self.name} {e164}")
            self._inflight[e164] = task
            task.add_done_callback(lambda _t: self._inflight.pop(e164, None))
        # shield: a caller that gives up (its card closed) leaves the answer to the cache.
        return await asyncio.shield(task)

    async def _fetch_and_store(self, e164: str, raw: str) -> ExternalContact | None:
        contact, ttl = await self._fetch_safely(e164, raw)
        self._store(e164, contact, ttl)
        return contact

    async def _fetch_safely(self, e164: str, raw: str) -> tuple[ExternalContact | None, float]:
        try:
            async with asyncio.timeout(self.timeout):
                contact = await self.fetch(e164, raw)
        except TimeoutError:
            self._failed(e164, f"no answer within {self.timeout:g} s", timeout=True)
        except (aiohttp.ClientError, LookupFailed, ValueError) as exc:
            self._failed(e164, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a connector bug: loud in the log, but no call is harmed
            log.exception("lookup %s: bug while looking up %s", self.name, e164)
            self._failed(e164, f"bug: {type(exc).__name__}: {exc}")
        else:
            if contact is None:
                self.stats.not_found += 1
            else:
                self.stats.found += 1
            return contact, self.cache_ttl
        return None, min(self.cache_ttl, ERROR_TTL)

    def _failed(self, e164: str, why: str, *, timeout: bool = False) -> None:
        self.stats.errors += 1
        self.stats.timeouts += int(timeout)
        self.stats.last_error = why
        log.warning("lookup %s: %s failed: %s", self.name, e164, why)

    def _store(self, e164: str, contact: ExternalContact | None, ttl: float) -> None:
        if ttl <= 0:
            return
        self._cache[e164] = _Entry(self.clock() + ttl, contact)
        self._cache.move_to_end(e164)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        self._cache.clear()


ResultCallback = Callable[[ExternalContact], Awaitable[None] | None]


@dataclass
class LookupChain:
    """Connectors asked in order; the first that knows the number wins. ``region`` reads
    numbers without a country code (``clients.default_region``); extensions, withheld and
    unparseable numbers are never sent to a CRM."""

    connectors: Sequence[CachedLookup]
    region: str = "FR"
    extension_pattern: str = DEFAULT_EXTENSION_PATTERN
    _tasks: set[asyncio.Task[ExternalContact | None]] = field(
        default_factory=set, init=False, repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.connectors)

    async def enrich(self, number: str) -> ExternalContact | None:
        """The first connector's answer for ``number``, or None. Never raises."""
        pn = normalize(number, self.region, self.extension_pattern)
        if pn.e164 is None:
            return None
        for connector in self.connectors:
            contact = await connector.lookup(pn.e164, number)
            if contact is not None:
                return contact
        return None

    def enrich_later(self, number: str,
                     on_result: ResultCallback | None = None) -> asyncio.Task[
                         ExternalContact | None]:
        """Start :meth:`enrich` in the background and return its task at once;
        ``on_result(contact)`` (plain or async) is called when a contact is found. The chain
        keeps a reference to the task until it ends (:meth:`close` cancels the rest)."""
        task = asyncio.create_task(self._enrich_and_tell(number, on_result),
                                   name=f"lookup {number}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def lookup(self, number: str, local: Callable[[str], Awaitable[L]],
                     on_result: ResultCallback | None = None,
                     ) -> tuple[L, asyncio.Task[ExternalContact | None]]:
        """``local(number)`` awaited and returned as soon as it answers, with the task of the
        external lookup, which was started first and runs on regardless."""
        task = self.enrich_later(number, on_result)
        return await local(number), task

    async def _enrich_and_tell(self, number: str,
                               on_result: ResultCallback | None) -> ExternalContact | None:
        contact = await self.enrich(number)
        if contact is not None and on_result is not None:
            try:
                result = on_result(contact)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("lookup: result callback failed for %s", number)
        return contact

    def stats(self) -> dict[str, LookupStats]:
        """Counters by connector name (``http``, ``http#2`` for a second one)."""
        out: dict[str, LookupStats] = {}
        for c in self.connectors:
            key, n = c.name, 1
            while key in out:
                n += 1
                key = f"{c.name}#{n}"
            out[key] = c.stats
        return out

    async def close(self) -> None:
        """Cancel pending lookups and close the connectors' sessions."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for connector in self.connectors:
            await connector.close()
