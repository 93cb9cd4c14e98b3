"""The ARI adapter: REST calls and the ``/ari/events`` WebSocket of a Stasis app (aiohttp)."""

from __future__ import annotations

from cti.ari.client import AriClient, AriConfig, AriCounters, AriError, AriEvent, AriState

__all__ = ["AriClient", "AriConfig", "AriCounters", "AriError", "AriEvent", "AriState"]
