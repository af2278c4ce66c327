"""The store of GATHR_STATE_URL (bot/state/store.py and its backends): the URL read, the
store opened on a real SQLite file and a real Redis-protocol server, its schema migrated or
refused, an unusable store stopping start-up in one line without the password, and a store
lost at run time refusing fast and coming back by itself."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from bot.errors import ConfigError, StoreUnavailable
from bot.settings import load_settings, state_url
from bot.state import redis_store
from bot.state.breaker import Breaker
from bot.state.redis_store import RedisStore, client_for
from bot.state.sqlite_store import MIGRATIONS, SqliteStore
from bot.state.store import SCHEMA_VERSION, StateUrl, open_store, parse_state_url
from tests.clocked import Clock
from tests.programs import free_port, gathr_bot, http_mode_settings, program_environment
from tests.redis_server import RedisServer, TlsFront

PASSWORD = "hunter2-store"


def sqlite_url(path: Path) -> StateUrl:
    return parse_state_url(f"sqlite:///{path.resolve()}")


# -- the URL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "path"),
    [
        ("memory://", "memory", ""),
        ("sqlite:///gathr-bot.sqlite3", "sqlite", "gathr-bot.sqlite3"),
        ("sqlite:///state/bot.db", "sqlite", "state/bot.db"),
        ("sqlite:////var/lib/gathr/bot.db", "sqlite", "/var/lib/gathr/bot.db"),
        ("redis://localhost:6379/0", "redis", ""),
        ("rediss://:pw@example.com:6380?ssl_cert_reqs=none", "redis", ""),
        ("REDIS://localhost", "redis", ""),
    ],
)
def test_each_form_of_the_url_is_read(raw: str, kind: str, path: str) -> None:
    url = parse_state_url(raw)
    assert (url.kind, url.path) == (kind, path)


@pytest.mark.parametrize(
    "raw",
    [
        f"postgres://ops:{PASSWORD}@db/bot", "sqlite://", "sqlite:///", "sqlite://host/file",
        "memory://x", f"redis://:{PASSWORD}@", "redis://host:port", "gathr-bot.sqlite3", "",
    ],
)
def test_a_bad_url_is_refused_in_words_that_never_quote_it(raw: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_state_url(raw)
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ConfigError) as at_start:
        load_settings(None, gathr_state_url=raw or " x")
    assert at_start.value.variable == "GATHR_STATE_URL"
    assert PASSWORD not in str(at_start.value)


def test_the_url_is_shown_without_its_password_or_query() -> None:
    url = parse_state_url(f"rediss://default:{PASSWORD}@kv.example:6380/0?password={PASSWORD}&ssl_cert_reqs=none")
    assert url.shown == "rediss://***@kv.example:6380/0"
    assert PASSWORD not in repr(url)
    assert PASSWORD not in repr(load_settings(None, gathr_state_url=url.url, redis_url=url.url))


def test_gathr_state_url_then_redis_url_then_the_default_file() -> None:
    assert state_url(load_settings(None)).url == "sqlite:///gathr-bot.sqlite3"
    assert state_url(load_settings(None), default="memory://").kind == "memory"
    from_redis = state_url(load_settings(None, redis_url="redis://kv:6379"))
    assert (from_redis.url, from_redis.source) == ("redis://kv:6379", "REDIS_URL")
    both = load_settings(None, redis_url="redis://kv:6379", gathr_state_url="memory://")
    assert state_url(both).kind == "memory"
    assert load_settings(None, gathr_state_url="  ").gathr_state_url is None  # blank: unset
    with pytest.raises(ConfigError) as bad:
        state_url(load_settings(None, redis_url=f"http://:{PASSWORD}@kv"))
    assert bad.value.variable == "REDIS_URL" and PASSWORD not in str(bad.value)


def test_rediss_honours_the_url_s_ssl_cert_reqs_none_as_redis_py_does() -> None:
    """Heroku's Key-Value Store serves a self-signed certificate."""
    pool = client_for(parse_state_url(f"rediss://:{PASSWORD}@kv.example:6380?ssl_cert_reqs=none")).connection_pool
    assert pool.connection_class.__name__ == "SSLConnection"
    assert pool.connection_kwargs["ssl_cert_reqs"] == "none"
    verified = client_for(parse_state_url("rediss://kv.example:6380")).connection_pool
    assert verified.connection_kwargs.get("ssl_cert_reqs", "required") == "required"


# -- SQLite: one real file -------------------------------------------------------------------


def test_a_new_sqlite_store_is_one_file_in_wal_mode_at_the_current_schema(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path / "bot.db"))
    store.probe()
    assert store.schema() == SCHEMA_VERSION
    store.close()
    with sqlite3.connect(tmp_path / "bot.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_old_sqlite_store_is_migrated_on_start(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "old.db").close()  # schema 0: a file from before the store
    store = open_store(sqlite_url(tmp_path / "old.db"))
    assert store.schema() == SCHEMA_VERSION
    assert store.seen.first_time("k", 60)
    store.close()


def test_a_schema_1_sqlite_store_is_migrated_keeping_what_it_held(tmp_path: Path) -> None:
    """Schema 1 (the requests already seen) came before the tables of locks, confirmations,
    waits, watches (2) and leases (3): a store of it gains them and keeps its keys."""
    with sqlite3.connect(tmp_path / "v1.db") as db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("INSERT INTO seen (key, expires) VALUES ('kept', 1e12)")
        db.execute("PRAGMA user_version = 1")
    store = open_store(sqlite_url(tmp_path / "v1.db"))
    assert store.schema() == SCHEMA_VERSION
    assert not store.seen.first_time("kept", 60)
    assert store.stores.locks.held() == {}
    assert store.leases.take("wait", "worker-a", 60)
    store.close()


def test_a_newer_sqlite_store_is_refused_plainly(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "new.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError) as refused:
        open_store(sqlite_url(tmp_path / "new.db"))
    assert refused.value.variable == "GATHR_STATE_URL"
    assert f"schema {SCHEMA_VERSION + 1}, written by a newer gathr-bot" in refused.value.problem
    with sqlite3.connect(tmp_path / "new.db") as db:  # and left as it was
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


@pytest.mark.parametrize("where", ["no-such-folder/bot.db", "a-folder"])
def test_a_sqlite_file_that_cannot_be_opened_is_refused_plainly(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(ConfigError) as refused:
        open_store(sqlite_url(tmp_path / where))
    assert refused.value.variable == "GATHR_STATE_URL"
    assert "cannot be used" in refused.value.problem


# -- Redis: the real server ------------------------------------------------------------------


def test_a_new_redis_store_records_its_schema_and_is_writable(redis_url: str, redis_server: RedisServer) -> None:
    store = open_store(parse_state_url(redis_url))
    store.probe()
    assert store.schema() == SCHEMA_VERSION
    store.close()
    client = redis_server.client()
    assert client.get(redis_store.SCHEMA_KEY) == str(SCHEMA_VERSION).encode()
    assert client.get(redis_store.PROBE_KEY) is None  # the probe cleans up
    client.close()


def test_a_newer_redis_store_is_refused_plainly(redis_url: str, redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set(redis_store.SCHEMA_KEY, SCHEMA_VERSION + 1)
    client.close()
    with pytest.raises(ConfigError) as refused:
        open_store(parse_state_url(redis_url))
    assert f"schema {SCHEMA_VERSION + 1}, written by a newer gathr-bot" in refused.value.problem


def test_an_unreachable_redis_is_refused_in_one_line_without_its_password() -> None:
    url = parse_state_url(f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0")
    with pytest.raises(ConfigError) as refused:
        open_store(url)
    assert str(refused.value) == (
        f"GATHR_STATE_URL: the store redis://***@127.0.0.1:{url.url.rsplit(':', 1)[1].split('/')[0]}/0 "
        "cannot be used: Redis could not be reached"
    )


def test_a_redis_that_refuses_the_password_is_named_so(redis_server: RedisServer, redis_url: str) -> None:
    host_port = redis_url.removeprefix("redis://")
    with pytest.raises(ConfigError) as refused:
        open_store(parse_state_url(f"redis://nobody:{PASSWORD}@{host_port}"))
    assert "Redis refused the" in refused.value.problem and PASSWORD not in str(refused.value)


# -- lost at run time ------------------------------------------------------------------------



def test_the_breaker_fails_fast_while_down_retries_with_back_off_and_recovers() -> None:
    clock = Clock()
    breaker = Breaker(errors=(OSError,), reason=lambda error: "down", clock=clock)
    calls: list[str] = []

    def failing() -> str:
        calls.append("tried")
        raise OSError

    with pytest.raises(StoreUnavailable):
        breaker.call(failing)
    with pytest.raises(StoreUnavailable):
        breaker.call(lambda: "not tried while the back-off lasts")
    assert calls == ["tried"] and breaker.down
    clock.now += 0.5
    with pytest.raises(StoreUnavailable):
        breaker.call(failing)  # tried again, failed again: the back-off doubles
    clock.now += 0.5
    with pytest.raises(StoreUnavailable):
        breaker.call(lambda: "still waiting")
    clock.now += 0.5
    assert breaker.call(lambda: "back") == "back"
    assert not breaker.down and calls == ["tried", "tried"]


def test_a_redis_lost_while_running_refuses_within_its_deadline_and_comes_back_by_itself() -> None:
    with RedisServer() as server:
        store = RedisStore(parse_state_url(server.url))
        assert store.seen.first_time("before", 600)
        server.stop()
        with pytest.raises(StoreUnavailable):
            store.seen.first_time("during", 600)
        with pytest.raises(StoreUnavailable):  # at once: the breaker is open
            store.seen.first_time("during", 600)
        server.start()  # the same port, empty (nothing is saved)
        deadline = time.monotonic() + 60
        while True:  # the back-off passes, then the next call reconnects
            try:
                assert store.seen.first_time("after", 600)
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline, "the store never came back"
                time.sleep(0.1)
        store.close()


def test_a_sqlite_store_closed_under_a_call_fails_as_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(sqlite_url(tmp_path / "bot.db"))
    store.close()
    with pytest.raises(StoreUnavailable):
        store.seen.first_time("k", 60)


# -- start-up and check, as programs ---------------------------------------------------------


def run(command: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    settings = http_mode_settings("http://127.0.0.1:9/api/", "http://127.0.0.1:9", "gathr-token", PORT="0")
    return subprocess.run(
        gathr_bot(command), env=program_environment(**settings, **env), cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("variable", ["GATHR_STATE_URL", "REDIS_URL"])
def test_run_with_an_unusable_store_stops_in_one_line_naming_gathr_state_url(tmp_path: Path, variable: str) -> None:
    result = run("run", tmp_path, **{variable: f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"})

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("gathr-bot: GATHR_STATE_URL: the store redis://***@127.0.0.1:")
    assert line.endswith("cannot be used: Redis could not be reached")
    assert ("(from REDIS_URL)" in line) is (variable == "REDIS_URL")
    assert PASSWORD not in result.stdout + result.stderr


def test_check_fails_an_unusable_store_as_run_would(tmp_path: Path) -> None:
    result = run("check", tmp_path, GATHR_STATE_URL=f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0")

    assert result.returncode == 2
    assert any(
        line.startswith("FAIL GATHR_STATE_URL: the store redis://***@") for line in result.stdout.splitlines()
    )
    assert PASSWORD not in result.stdout + result.stderr


def test_check_warns_of_the_default_file_on_a_heroku_dyno(tmp_path: Path) -> None:
    result = run("check", tmp_path, DYNO="worker.1")

    assert "ok   state store sqlite:///gathr-bot.sqlite3 (schema 5, writable)" in result.stdout
    assert "warn state store sqlite:///gathr-bot.sqlite3: this Heroku dyno's files are lost" in result.stdout
    assert (tmp_path / "gathr-bot.sqlite3").exists()  # where run would keep it: the working directory


def test_rediss_with_ssl_cert_reqs_none_reaches_a_store_behind_a_self_signed_certificate(
    redis_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Heroku's case, over real TLS: with the URL's ssl_cert_reqs=none the store opens and
    works; without it, start-up says what to add."""
    front = TlsFront(redis_server.port, tmp_path)
    try:
        store = open_store(parse_state_url(f"rediss://127.0.0.1:{front.port}/0?ssl_cert_reqs=none"))
        assert store.seen.first_time("over-tls", 60)
        store.probe()
        store.close()
        with pytest.raises(ConfigError) as refused:
            open_store(parse_state_url(f"rediss://127.0.0.1:{front.port}/0"))
        assert "the TLS handshake failed (a self-signed certificate needs ?ssl_cert_reqs=none)" in refused.value.problem
    finally:
        front.close()


def test_heroku_key_value_stores_redis_url_is_used_as_heroku_asks_with_its_self_signed_certificate() -> None:
    """On a dyno (DYNO set) the add-on's own REDIS_URL works as it is set, rotations included:
    its self-signed certificate cannot be verified, so the URL is read with ssl_cert_reqs=none."""
    heroku = {"DYNO": "worker.1"}
    kv = "rediss://:secret@ec2-1-2-3-4.compute-1.amazonaws.com:12345"
    on_dyno = state_url(load_settings(None, redis_url=kv), environ=heroku)
    assert on_dyno.url == kv + "?ssl_cert_reqs=none" and on_dyno.source == "REDIS_URL"
    # Everything else is read exactly as written.
    assert state_url(load_settings(None, redis_url=kv), environ={}).url == kv  # not on Heroku
    assert state_url(load_settings(None, redis_url=kv + "?ssl_cert_reqs=required"), environ=heroku).url.endswith(
        "?ssl_cert_reqs=required"
    )
    assert state_url(load_settings(None, redis_url=kv + "?db=2"), environ=heroku).url == kv + "?db=2&ssl_cert_reqs=none"
    assert state_url(load_settings(None, redis_url="redis://kv:6379"), environ=heroku).url == "redis://kv:6379"  # no TLS
    assert state_url(load_settings(None, gathr_state_url=kv), environ=heroku).url == kv  # the operator's own choice
