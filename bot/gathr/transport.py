"""Deadlines and bounded bodies under the Gathr client (`bot.gathr.client`).

requests' `timeout=` bounds each socket operation, not a call: a peer that sends one byte
a second holds a call forever. Here every call gets one monotonic deadline that covers
connecting, sending, the headers, the body and any retry of the status GET:

- each new connection may take no longer than what is left of the budget, and none is
  opened once it has run out (so a retry cannot start late);
- a single watchdog thread shuts down the sockets of a call whose deadline passed, which
  wakes a read blocked on a dripping peer at once (for plain and TLS sockets alike);
- the body is read in chunks by `read_body`, decompressed here with a cap on the output,
  so that neither a long body nor a gzip bomb is ever held whole.

Name resolution is not interruptible (getaddrinfo); it is bounded by the resolver.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
import zlib
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError
from urllib3.response import BaseHTTPResponse

CHUNK = 16 * 1024


class Deadline:
    """One call's budget, and the sockets it uses (so that they can be cut at the end)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.sent = False  # whether a request went out (so Gathr may have acted)
        self.expired = False  # the watchdog cut this call
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.expired or self.remaining() <= 0

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if not self.expired and not self._done:
                self._sockets.append(sock)
                return
        _shut(sock)  # registered after the end: cut it at once

    def expire(self) -> None:
        """Called by the watchdog at the deadline: cut every socket of the call."""
        with self._lock:
            if self._done:
                return
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)

    def finish(self) -> None:
        """The call is over (answered or failed): the watchdog must leave its sockets be."""
        with self._lock:
            self._done = True
            self._sockets = []

    @property
    def finished(self) -> bool:
        return self._done


def _shut(sock: socket.socket) -> None:
    try:
        # The plain socket's shutdown, not SSLSocket's (which would unwrap TLS first):
        # it wakes a recv() blocked in another thread.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, TypeError):
        pass  # already closed, or not a socket we know how to cut


class _Watchdog:
    """One daemon thread that expires deadlines in order. It runs only while calls are in
    flight (so a stopped bot leaves no thread behind) and is started again by the next.

    A finished call's deadline stays in the heap until it comes to the top, where it is
    dropped unexpired: taking it out at once cost a scan of the heap and a wake-up of this
    thread per call, about a tenth of a burst of starts' CPU (issue 15). The thread wakes
    only for a deadline earlier than the one it waits for, or when no call is left."""

    def __init__(self, condition: threading.Condition | None = None) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition() if condition is None else condition
        self._thread: threading.Thread | None = None
        self._live = 0  # armed and not yet disarmed

    def arm(self, deadline: Deadline) -> None:
        with self._wake:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            self._live += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gathr-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:  # sooner than what the thread waits for
                self._wake.notify()

    def disarm(self, deadline: Deadline) -> None:
        with self._wake:
            self._live -= 1
            if self._live == 0:  # nothing in flight: the thread may end
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._live == 0:
                    self._heap.clear()
                    self._thread = None
                    return
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)
                if not self._heap:  # the calls left were cut already and are ending
                    self._wake.wait()
                    continue
                at, _, deadline = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_watchdog = _Watchdog()
_current = threading.local()


class call_deadline:
    """`with call_deadline(seconds) as deadline:` gives the calls made by this thread inside
    the block one deadline (the client makes one call per block)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = Deadline(seconds)

    def __enter__(self) -> Deadline:
        _current.deadline = self.deadline
        _watchdog.arm(self.deadline)
        return self.deadline

    def __exit__(self, *_exc: object) -> None:
        self.deadline.finish()
        _watchdog.disarm(self.deadline)
        _current.deadline = None


def current_deadline() -> Deadline | None:
    """The deadline of the call this thread is making, if any."""
    return getattr(_current, "deadline", None)


_deadline = current_deadline


class _DeadlineConnectionMixin:
    """Connections that open only within the current call's budget and tell it their socket."""

    timeout: Any
    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        deadline = _deadline()
        if deadline is not None:
            left = deadline.remaining()
            if deadline.expired or left <= 0:
                raise ConnectTimeoutError(self, "the call's deadline passed before connecting")
            if not isinstance(self.timeout, (int, float)) or self.timeout > left:
                self.timeout = left
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        if deadline is not None:
            deadline.add(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = _deadline()
        if deadline is not None:
            if deadline.passed():  # a retry after the budget ran out: send nothing
                raise ConnectTimeoutError(self, "the call's deadline passed before sending")
            deadline.add(self.sock)  # a kept-alive connection: its socket from before
            deadline.sent = True
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_DeadlineConnectionMixin, HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineConnectionMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter with connections that keep to the current call's deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # A new dict: the default is urllib3's module-level one, shared by everyone.
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


# -- bounded bodies ------------------------------------------------------------------------


class AnswerTooLarge(Exception):
    """The body (once decompressed) is longer than the limit."""


class UnknownEncoding(Exception):
    """A Content-Encoding that is not identity, gzip or deflate (or several stacked)."""


def _inflater(encoding: str) -> Any:
    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        return None
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _Deflate()
    raise UnknownEncoding(coding)


class _Deflate:
    """"deflate" is zlib-wrapped by the standard and raw in some servers: accept both."""

    def __init__(self) -> None:
        self._inner: Any = None
        self.unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inner is None:
            self._inner = zlib.decompressobj()
            try:
                out: bytes = self._inner.decompress(data, max_length)
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._inner.decompress(data, max_length)
        else:
            out = self._inner.decompress(data, max_length)
        self.unconsumed_tail = self._inner.unconsumed_tail
        return out


def read_body(raw: BaseHTTPResponse, content_encoding: str, limit: int) -> bytes:
    """Read and decompress the whole body, refusing it as soon as it would exceed `limit`
    bytes, compressed or not. The compressed bytes are limited as well: they are never
    longer than what they inflate to, for any answer worth reading."""
    inflate = _inflater(content_encoding)
    out = bytearray()
    taken = 0
    while True:
        chunk = raw.read(CHUNK, decode_content=False)
        if not chunk:
            break
        taken += len(chunk)
        if taken > limit:
            raise AnswerTooLarge()
        if inflate is None:
            out += chunk
        else:
            data = chunk
            while data:
                # Never more than one byte past the limit comes out of one step.
                out += inflate.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise AnswerTooLarge()
                data = inflate.unconsumed_tail
        if len(out) > limit:
            raise AnswerTooLarge()
    return bytes(out)
