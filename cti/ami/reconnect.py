"""The AMI client's reconnect loop and link state, short of any socket or panoramisk object.

:class:`~cti.ami.client.AmiClient` is a :class:`ReconnectLoop` that supplies one ``_session``
(connect, log in, run until the link drops). This loop runs sessions one after another until
``close()``, sleeping between them with :func:`~cti.ami.types.backoff_delay` (exponential, full
jitter; the session resets ``_attempt`` after a successful login), and keeps the state that
``state``, ``wait_connected`` and the snapshot report.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random

from cti.ami.types import AmiConfig, AmiState, backoff_delay
from cti.errors import AmiTimeout

# The client's logger: these messages kept their name when this code moved out of client.py.
log = logging.getLogger("cti.ami.client")


class ReconnectLoop(abc.ABC):
    """Sessions one after another, with backoff between them, until ``close()``."""

    def __init__(self, config: AmiConfig, rng: random.Random | None) -> None:
        self.config = config
        self._rng = rng or random.Random()
        self._state = AmiState.DISCONNECTED
        self._attempt = 0
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    @abc.abstractmethod
    async def _session(self) -> None:
        """One connection: connect, log in, then wait for the link to drop."""

    @property
    def state(self) -> AmiState:
        return self._state

    def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="ami-client")

    async def wait_connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise AmiTimeout(f"AMI not connected after {timeout:g}s ({self._state})") from None

    def _set_state(self, state: AmiState) -> None:
        if state is not self._state:
            log.info("AMI %s:%s %s -> %s", self.config.host, self.config.port, self._state, state)
            self._state = state
        if state is AmiState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()

    def _next_delay(self) -> float:
        delay = backoff_delay(self.config, self._attempt, self._rng)
        self._attempt += 1
        return delay

    async def _run(self) -> None:
        try:
            while not self._closing:
                await self._session()
                if self._closing:
                    break
                delay = self._next_delay()
                log.info("AMI %s:%s: reconnecting in %.2fs", self.config.host, self.config.port,
                         delay)
                await asyncio.sleep(delay)
        finally:
            self._set_state(AmiState.DISCONNECTED)
