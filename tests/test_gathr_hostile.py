"""The Gathr client against a hostile or broken peer, over real loopback sockets.

A peer that drips its headers or body one byte at a time, a gzip bomb, a body far larger
than any documented answer, an endless error text, a 429: each must end the call within its
deadline as a plain `GathrError`, without inflating or keeping more than a bounded answer.
The bounds asserted are generous (they hold on a loaded machine): they prove that the
deadline is total, not how fast the client is.
"""

from __future__ import annotations

import gzip
import json
import socket
import socketserver
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import pytest

from bot.errors import (
    MAX_GATHR_TEXT,
    ConfigError,
    GathrBadResponse,
    GathrBusy,
    GathrNoAnswer,
    GathrRejected,
    GathrUnavailable,
)
from bot.gathr.client import MAX_ANSWER_BYTES, GathrClient
from bot.model import AppStatus

TOKEN = "gathr-user-token-7Q2x"
RUNNING = b'{"application_status": "RUNNING", "status": "Success"}'
ACCEPTED = b'{"status": "Success", "message": "Application start request accepted."}'
TIMEOUT = 1.0
# A correctness bound, not a speed figure: a call must end near its deadline, and a loaded
# 2-core machine gets three seconds of slack.
BOUND = TIMEOUT + 3.0

Script = Callable[[socket.socket, threading.Event], None]


class _Peer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that cut the connection (its deadline) is what these tests make


class Peer:
    """A loopback TCP server that reads one HTTP request per connection, then runs `script`
    on the socket: it writes whatever bytes, at whatever pace, the test wants."""

    def __init__(self, script: Script) -> None:
        self.stop = threading.Event()
        self.requests: list[bytes] = []
        peer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                while True:
                    request = _read_request(sock)
                    if request is None:
                        return
                    peer.requests.append(request)
                    try:
                        script(sock, peer.stop)
                    except OSError:
                        return  # the client gave up: that is the point
                    if peer.stop.is_set():
                        return

        self.server = _Peer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def _read_request(sock: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head


@pytest.fixture
def peer_of() -> Iterator[Callable[[Script], Peer]]:
    peers: list[Peer] = []

    def make(script: Script) -> Peer:
        peers.append(Peer(script))
        return peers[-1]

    yield make
    for peer in peers:
        peer.close()


def answer(
    status: int = 200, body: bytes = RUNNING, headers: dict[str, str] | None = None, *, length: bool = True
) -> Script:
    def script(sock: socket.socket, stop: threading.Event) -> None:
        lines = [f"HTTP/1.1 {status} X", "Content-Type: application/json"]
        if length:
            lines.append(f"Content-Length: {len(body)}")
        else:
            lines.append("Connection: close")
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        if not length:
            sock.shutdown(socket.SHUT_WR)
            stop.set()

    return script


def drip(head: bytes, rest: bytes, every: float = 0.1) -> Script:
    """Send `head` at once, then `rest` one byte every `every` seconds (forever if it cycles)."""

    def script(sock: socket.socket, stop: threading.Event) -> None:
        sock.sendall(head)
        while not stop.is_set():
            for byte in rest:
                if stop.wait(every):
                    return
                sock.sendall(bytes([byte]))

    return script


def client(peer: Peer, *, timeout: float = TIMEOUT, status_retries: int = 2) -> GathrClient:
    return GathrClient(peer.url, TOKEN, timeout=timeout, retry_backoff=0, status_retries=status_retries)


def call(gathr: GathrClient, method: str) -> object:
    if method == "status":
        return gathr.status("orders-etl")
    return gathr.start("sales", "orders-etl")


# -- item 2: a deadline for the whole call -----------------------------------------------------

DRIPS = {
    # The status line arrives, then one header byte at a time, never the end of the headers.
    "headers": drip(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 1000),
    # Headers complete, then the body one byte at a time: 40 bytes would take 4 s.
    "body": drip(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(RUNNING),
        RUNNING,
        every=0.1,
    ),
    # The same without a length: the body ends when the connection does.
    "close-delimited body": drip(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        b" " * 1000 + RUNNING,
    ),
}


@pytest.mark.parametrize("method", ["status", "start"])
@pytest.mark.parametrize("kind", list(DRIPS))
def test_a_dripping_peer_cannot_hold_a_call_past_its_deadline(
    peer_of: Callable[[Script], Peer], kind: str, method: str
) -> None:
    peer = peer_of(DRIPS[kind])
    gathr = client(peer)
    started = time.monotonic()
    with pytest.raises(GathrNoAnswer) as caught:
        call(gathr, method)
    took = time.monotonic() - started

    assert took < BOUND, f"the call took {took:.1f} s with a {TIMEOUT:g} s deadline"
    assert f"within {TIMEOUT:g} s" in caught.value.message
    gathr.close()


def test_a_retried_status_read_keeps_within_its_one_deadline(peer_of: Callable[[Script], Peer]) -> None:
    def slow_503(sock: socket.socket, stop: threading.Event) -> None:
        stop.wait(0.6)  # each attempt is inside the time-out; all of them together are not
        answer(503, b"busy")(sock, stop)

    peer = peer_of(slow_503)
    gathr = client(peer, status_retries=6)
    started = time.monotonic()
    with pytest.raises(GathrUnavailable):
        gathr.status("orders-etl")
    took = time.monotonic() - started

    assert took < BOUND, f"{len(peer.requests)} attempts took {took:.1f} s"
    assert len(peer.requests) < 7  # the deadline cut the retries short
    gathr.close()


def test_the_back_off_between_status_retries_is_inside_the_deadline(peer_of: Callable[[Script], Peer]) -> None:
    peer = peer_of(answer(503, b"busy"))
    gathr = GathrClient(peer.url, TOKEN, timeout=TIMEOUT, retry_backoff=4.0, status_retries=3)
    started = time.monotonic()
    with pytest.raises(GathrUnavailable):
        gathr.status("orders-etl")
    took = time.monotonic() - started

    assert took < BOUND, f"back-off held the call {took:.1f} s"
    gathr.close()


def test_a_healthy_peer_still_answers_on_a_kept_alive_connection(peer_of: Callable[[Script], Peer]) -> None:
    peer = peer_of(answer())
    gathr = client(peer, timeout=5.0)
    for _ in range(5):
        assert gathr.status("orders-etl") is AppStatus.RUNNING
    assert len(peer.requests) == 5
    gathr.close()


# -- item 3: bounded answers -------------------------------------------------------------------


def _bomb(encoding: str, size: int) -> bytes:
    zeros = b"\0" * size
    if encoding == "gzip":
        return gzip.compress(zeros, compresslevel=9)
    return zlib.compress(zeros, 9)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compression_bomb_is_refused_without_inflating_it(
    peer_of: Callable[[Script], Peer], encoding: str
) -> None:
    body = _bomb(encoding, 48 * 1024 * 1024)  # 48 MiB of zeros in under 64 KiB
    assert len(body) < MAX_ANSWER_BYTES
    peer = peer_of(answer(body=body, headers={"Content-Encoding": encoding}))
    gathr = client(peer, timeout=10.0)

    tracemalloc.start()
    try:
        with pytest.raises(GathrBadResponse) as caught:
            gathr.status("orders-etl")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 4 * 1024 * 1024, f"{peak} bytes allocated while refusing a 48 MiB bomb"
    assert "larger than" in caught.value.message
    gathr.close()


def test_an_answer_encoded_twice_or_unknown_is_refused(peer_of: Callable[[Script], Peer]) -> None:
    twice = peer_of(answer(body=gzip.compress(gzip.compress(RUNNING)), headers={"Content-Encoding": "gzip, gzip"}))
    with pytest.raises(GathrBadResponse):
        client(twice).status("orders-etl")
    brotli = peer_of(answer(body=b"\x0b\x02\x80", headers={"Content-Encoding": "br"}))
    with pytest.raises(GathrBadResponse):
        client(brotli).status("orders-etl")


def test_a_small_compressed_answer_is_read(peer_of: Callable[[Script], Peer]) -> None:
    for encoding, body in (("gzip", gzip.compress(RUNNING)), ("deflate", zlib.compress(RUNNING))):
        peer = peer_of(answer(body=body, headers={"Content-Encoding": encoding}))
        assert client(peer).status("orders-etl") is AppStatus.RUNNING


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "close-delimited"])
def test_a_body_larger_than_any_documented_answer_is_refused(
    peer_of: Callable[[Script], Peer], length: bool
) -> None:
    padding = " " * (MAX_ANSWER_BYTES + 10)
    body = ('{"application_status": "RUNNING", "status": "Success", "pad": "%s"}' % padding).encode()
    peer = peer_of(answer(body=body, length=length))
    with pytest.raises(GathrBadResponse) as caught:
        client(peer, timeout=5.0).status("orders-etl")
    assert "larger than 64 KiB" in caught.value.message


def test_a_huge_announced_length_is_refused_before_reading(peer_of: Callable[[Script], Peer]) -> None:
    def liar(sock: socket.socket, stop: threading.Event) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n" + RUNNING)
        stop.wait(30)

    with pytest.raises(GathrBadResponse):
        client(peer_of(liar), timeout=5.0).status("orders-etl")


def test_gathrs_error_text_is_cut_before_it_reaches_anyone(peer_of: Callable[[Script], Peer]) -> None:
    words = "the application was not found " * 1000
    peer = peer_of(answer(400, json.dumps({"status": "Error", "message": words}).encode()))
    with pytest.raises(GathrRejected) as caught:
        client(peer, timeout=5.0).start("sales", "orders-etl")
    message = caught.value.message
    assert len(message) <= MAX_GATHR_TEXT
    assert message.endswith("…")
    assert message.startswith("the application was not found")
    assert len(str(caught.value)) <= MAX_GATHR_TEXT


def test_gathrs_words_on_success_are_cut_too(peer_of: Callable[[Script], Peer]) -> None:
    words = "accepted and queued behind the others " * 1000
    peer = peer_of(answer(200, json.dumps({"status": "Success", "message": words}).encode()))
    said = client(peer, timeout=5.0).start("sales", "orders-etl")
    assert len(said) <= MAX_GATHR_TEXT and said.endswith("…") and said.startswith("accepted and queued")


# -- item 6 (client side): "try later" is not a refusal --------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "seconds"),
    [
        (429, {"Retry-After": "7"}, 7.0),
        (429, {}, None),
        (503, {"Retry-After": "12"}, 12.0),
        (429, {"Retry-After": "soon"}, None),
    ],
)
def test_a_try_later_answer_to_a_status_read_is_busy_with_its_retry_after(
    peer_of: Callable[[Script], Peer], status: int, headers: dict[str, str], seconds: float | None
) -> None:
    peer = peer_of(answer(status, b"slow down", headers))
    with pytest.raises(GathrBusy) as caught:
        client(peer, timeout=5.0, status_retries=0).status("orders-etl")
    assert caught.value.retry_after == seconds
    assert caught.value.status == status
    assert ("rate limiting" if status == 429 else "busy") in caught.value.message
    if seconds is not None:
        assert f"try again in {seconds:g} s" in caught.value.message


def test_a_429_to_a_start_is_not_retried_and_says_it_was_not_acted_on(peer_of: Callable[[Script], Peer]) -> None:
    peer = peer_of(answer(429, b"", {"Retry-After": "3"}))
    with pytest.raises(GathrBusy) as caught:
        client(peer, timeout=5.0).start("sales", "orders-etl")
    assert not isinstance(caught.value, GathrNoAnswer)
    assert "did not act on the request" in caught.value.message
    assert len(peer.requests) == 1


def test_a_retry_after_of_hours_is_capped() -> None:
    from bot.gathr.client import retry_after_seconds

    assert retry_after_seconds("99999999") == 3600.0
    assert retry_after_seconds("-5") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


# -- item 9: 202, and credentials in the URL ---------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202])
def test_any_2xx_with_the_documented_success_body_is_accepted(
    peer_of: Callable[[Script], Peer], status: int
) -> None:
    peer = peer_of(answer(status, ACCEPTED))
    assert client(peer, timeout=5.0).start("sales", "orders-etl") == "Application start request accepted."


def test_a_client_refuses_a_base_url_with_credentials_without_showing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        GathrClient("https://ana:pa55word@gathr.test", TOKEN)
    assert caught.value.variable == "GATHR_BASE_URL"
    assert "pa55word" not in str(caught.value)


def test_a_status_command_told_429_says_gathr_is_rate_limiting_and_when_to_retry(
    peer_of: Callable[[Script], Peer],
) -> None:
    from bot import messages

    peer = peer_of(answer(429, b"", {"Retry-After": "7"}))
    with pytest.raises(GathrBusy) as caught:
        client(peer, timeout=5.0).status("orders-etl")
    text = messages.status_failed("orders-etl", caught.value).text

    assert "Gathr is rate limiting, try again in 7 s." in text
    assert "few minutes" not in text  # Gathr said when; no second, vaguer advice


def test_no_deadline_thread_is_left_once_the_calls_are_over(peer_of: Callable[[Script], Peer]) -> None:
    peer = peer_of(answer())
    gathr = client(peer, timeout=30.0)
    assert gathr.status("orders-etl") is AppStatus.RUNNING
    deadline = time.monotonic() + 10
    while any(t.name == "gathr-deadlines" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [t.name for t in threading.enumerate() if t.name == "gathr-deadlines"] == []
    gathr.close()
