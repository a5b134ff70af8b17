"""A stand-in chat platform over real HTTP, for outbox tests and the rate-limit benchmark.

It is deliberately not Slack or Telegram: one ``POST /send`` taking ``{recipient, text, outbox_id}``. What
makes it useful is what real platforms do to a sender: it enforces a global and a per-recipient rate (429
with ``Retry-After``), and it can be told to fail in the ways the outbox must survive: 500s, 429s, a 403 for
a user who blocked the bot, and a response that never comes although the message was accepted. Every
request and every delivery is recorded with its parsed body and arrival time, so tests assert on what the
platform received rather than on call counts.

The server listens on 127.0.0.1 on a port the OS picks, so tests can run in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

Scope = Literal["recipient", "global"]


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: int = 1


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message the platform accepted (and will show the recipient), whatever the sender heard back."""

    recipient: str
    text: str
    outbox_id: int | None
    body: dict[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class Request:
    recipient: str
    outbox_id: int | None
    at: float
    status: int


@dataclass(slots=True)
class _Fault:
    status: int
    recipient: str | None
    retry_after: float = 1.0
    scope: Scope = "recipient"
    stall: float = 0.0


class _Gcra:
    """The same virtual-scheduling bucket the bot uses, with a tolerance for network jitter."""

    def __init__(self, rate: Rate, jitter: float) -> None:
        self._interval = 1.0 / rate.per_second
        self._tolerance = (rate.burst - 1) * self._interval + jitter
        self._tat = -math.inf

    def early_by(self, now: float) -> float:
        """Seconds a request arriving ``now`` is too early by; 0 when it conforms."""
        return max(0.0, self._tat - self._tolerance - now)

    def take(self, now: float) -> None:
        self._tat = max(self._tat, now) + self._interval


class LocalServer:
    """An aiohttp server on a free 127.0.0.1 port for one test: ``async with`` it, or ``start``/``stop``.

    Subclasses add their routes in ``routes`` and release anything that would hold up shutdown (stalled
    handlers, open WebSockets) in ``before_stop``.
    """

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port = 0

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def before_stop(self) -> None:
        """Nothing by default."""

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self.before_stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._port}"


class FakePlatform(LocalServer):
    """Construct, ``await start()`` (or ``async with``), point an adapter at ``url``, read the records.

    ``now`` is the platform's clock; tests driving a ``ManualClock`` pass its time so the platform judges
    rates in the same time as the bot. ``jitter`` forgives requests that arrive that much early, as real
    platforms measure over windows rather than to the microsecond. ``latency`` delays every response, as a
    real platform's round trip does.
    """

    def __init__(
        self,
        *,
        global_rate: Rate | None = None,
        per_recipient_rate: Rate | None = None,
        now: Callable[[], float] = time.monotonic,
        jitter: float = 0.05,
        latency: float = 0.0,
    ) -> None:
        super().__init__()
        self._global = _Gcra(global_rate, jitter) if global_rate is not None else None
        self._per_recipient_rate = per_recipient_rate
        self._per_recipient: dict[str, _Gcra] = {}
        self._now = now
        self._jitter = jitter
        self._latency = latency
        self._faults: deque[_Fault] = deque()
        self._blocked: set[str] = set()
        self._in_flight = 0
        self._closing = asyncio.Event()
        self.deliveries: list[Delivery] = []
        self.requests: list[Request] = []
        self.statuses: Counter[int] = Counter()
        self.max_in_flight = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/send", self._send)

    async def before_stop(self) -> None:
        self._closing.set()  # stalled handlers watch it, so shutdown need not wait for them

    @property
    def url(self) -> str:
        return self.base

    # ---- faults, consumed by the next matching requests in order --------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        recipient: str | None = None,
        retry_after: float = 1.0,
        scope: Scope = "recipient",
    ) -> None:
        """Answer the next ``times`` requests (to ``recipient``, or any) with ``status`` (500, 429, ...)."""
        self._faults.extend(_Fault(status, recipient, retry_after, scope) for _ in range(times))

    def stall_next(self, times: int = 1, *, seconds: float = 30.0, recipient: str | None = None) -> None:
        """Accept and record the next messages, then keep the sender waiting ``seconds`` for the answer."""
        self._faults.extend(_Fault(200, recipient, stall=seconds) for _ in range(times))

    def block(self, recipient: str) -> None:
        """The recipient blocked the bot: every send to them gets 403 from now on."""
        self._blocked.add(recipient)

    # ---- what happened ---------------------------------------------------------------------------------

    def delivered_to(self, recipient: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.recipient == recipient]

    def requests_to(self, recipient: str) -> list[Request]:
        return [r for r in self.requests if r.recipient == recipient]

    # ---- the endpoint ----------------------------------------------------------------------------------

    async def _send(self, request: web.Request) -> web.Response:
        # Judged by when the request arrived; the latency is the platform's round trip after that.
        now = self._now()
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            response, stall = self._respond(await request.json(), now)
            if self._latency:
                await asyncio.sleep(self._latency)
            if stall:
                # The message is delivered; only the answer is lost on the way back.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), stall)
            return response
        finally:
            self._in_flight -= 1

    def _respond(self, body: dict[str, Any], now: float) -> tuple[web.Response, float]:
        recipient = str(body["recipient"])
        outbox_id = body.get("outbox_id")
        fault = self._take_fault(recipient)
        if recipient in self._blocked:
            response = _error(403, "Forbidden: bot was blocked by the user")
        elif fault is not None and fault.status == 429:
            response = _too_many(fault.retry_after, fault.scope)
        elif fault is not None and fault.status != 200:
            response = _error(fault.status, "Internal Server Error")
        elif (wait := self._rate_wait(recipient, now)) is not None:
            response = _too_many(*wait)
        else:
            self.deliveries.append(Delivery(recipient, str(body["text"]), outbox_id, body, now))
            response = web.json_response({"ok": True, "reference": f"m{len(self.deliveries)}"})
        self.requests.append(Request(recipient, outbox_id, now, response.status))
        self.statuses[response.status] += 1
        return response, fault.stall if fault is not None else 0.0

    def _take_fault(self, recipient: str) -> _Fault | None:
        for fault in self._faults:
            if fault.recipient in (None, recipient):
                self._faults.remove(fault)
                return fault
        return None

    def _rate_wait(self, recipient: str, now: float) -> tuple[float, Scope] | None:
        """Check both limits; a refused request counts against neither."""
        buckets: list[_Gcra] = []
        if self._per_recipient_rate is not None:
            bucket = self._per_recipient.get(recipient)
            if bucket is None:
                bucket = self._per_recipient[recipient] = _Gcra(self._per_recipient_rate, self._jitter)
            if (early := bucket.early_by(now)) > 0:
                return early, "recipient"
            buckets.append(bucket)
        if self._global is not None:
            if (early := self._global.early_by(now)) > 0:
                return early, "global"
            buckets.append(self._global)
        for bucket in buckets:
            bucket.take(now)
        return None


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "description": description}, status=status)


def _too_many(retry_after: float, scope: Scope) -> web.Response:
    # Retry-After is whole seconds in HTTP; the body carries the exact figure, as Telegram's retry_after does.
    return web.json_response(
        {"ok": False, "description": "Too Many Requests", "retry_after": retry_after, "scope": scope},
        status=429,
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )
