"""`redis://` and `rediss://`: the store on a Redis (or Valkey) server, shared by one or
several workers (the `redis` client package).

One connection pool per process. Every call has a deadline: `STORE_TIMEOUT` to connect and
to answer, and one retry on a fresh connection only for a broken one (a pooled connection
that a Redis restart closed), never for a time-out. The URL's own query is honoured as
redis-py reads it, `rediss://…?ssl_cert_reqs=none` above all (Heroku's Key-Value Store
serves a self-signed certificate). Keys are all under `gathr:` (those of the other protocols: bot.state.redis_keys); the schema version is the
string at `gathr:schema`, migrated under WATCH so that two workers starting together agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, ConnectionError, RedisError, ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeout
from redis.retry import Retry

from bot.errors import StoreUnavailable
from bot.state.breaker import Breaker
from bot.state.leases import Leases
from bot.state.redis_keys import (
    PREFIX,
    RedisAppLocks,
    RedisChannelDefaults,
    RedisChannelWatches,
    RedisConfirmations,
    RedisLastUpdates,
    RedisLeases,
    RedisRequestHistory,
    RedisRunningWaits,
    milliseconds,
)
from bot.state.seen import SeenRequests
from bot.state.stores import Stores
from bot.state.store import SCHEMA_VERSION, STORE_TIMEOUT, SchemaTooNew, StateUrl, migrations_due

T = TypeVar("T")

SCHEMA_KEY = PREFIX + "schema"
SEEN_PREFIX = PREFIX + "seen:"
PROBE_KEY = PREFIX + "probe"
MAX_CONNECTIONS = 50  # per process: the workers, the listeners, the Socket Mode thread

# MIGRATIONS[n] takes a store from schema n to n + 1, inside the MULTI that records it.
# 0 -> 1: nothing to move (keys with their own expiry need no table); 1 -> 2 up to 4 -> 5
# (channel defaults; the history and the last update fields): nor for the keys of
# bot.state.redis_keys, which start empty.
MIGRATIONS: tuple[Callable[[Any], None], ...] = (lambda pipe: None,) * 5
assert len(MIGRATIONS) == SCHEMA_VERSION


def _reason(error: BaseException) -> str:
    # redis-py's words may name the host, never the password; ours say what to do.
    if isinstance(error, AuthenticationError):
        return "Redis refused the credentials"
    if isinstance(error, RedisTimeout):
        return f"Redis did not answer within {STORE_TIMEOUT:g} s"
    if isinstance(error, ConnectionError):
        cause = str(error).lower()
        if "ssl" in cause or "certificate" in cause:
            return "the TLS handshake failed (a self-signed certificate needs ?ssl_cert_reqs=none)"
        return "Redis could not be reached"
    if isinstance(error, ResponseError):
        first = str(error).split(" ", 1)[0]  # the error code: NOAUTH, WRONGPASS, READONLY, ...
        return f"Redis refused the command ({first[:30]})"
    return f"Redis failed ({type(error).__name__})"


def client_for(url: StateUrl) -> redis.Redis:
    """The client of `url`, its own query honoured (ssl_cert_reqs, db, ...), with our deadlines."""
    try:
        return redis.Redis.from_url(
            url.url,
            socket_timeout=STORE_TIMEOUT,
            socket_connect_timeout=STORE_TIMEOUT,
            retry=Retry(NoBackoff(), retries=1),
            retry_on_error=[ConnectionError],
            max_connections=MAX_CONNECTIONS,
            health_check_interval=30,
        )
    except ValueError:
        raise StoreUnavailable("the URL's options cannot be read (see redis-py's URL form)") from None


class RedisStore:
    def __init__(self, url: StateUrl) -> None:
        self.url = url
        self._breaker = Breaker(errors=(RedisError, OSError), reason=_reason)
        self.client = client_for(url)
        try:
            self._migrate()
        except (RedisError, OSError) as error:
            self.client.close()
            raise StoreUnavailable(_reason(error)) from None
        except SchemaTooNew:
            self.client.close()
            raise
        self.seen: SeenRequests = RedisSeenRequests(self)
        self.stores = Stores(
            locks=RedisAppLocks(self),
            confirmations=RedisConfirmations(self),
            waits=RedisRunningWaits(self),
            watches=RedisChannelWatches(self),
            defaults=RedisChannelDefaults(self),
            history=RedisRequestHistory(self),
            last_updates=RedisLastUpdates(self),
        )
        self.leases: Leases = RedisLeases(self)

    def _migrate(self) -> None:
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(SCHEMA_KEY)  # type: ignore[no-untyped-call]
                    raw = pipe.get(SCHEMA_KEY)
                    due = migrations_due(int(raw) if raw is not None else 0)
                    if not due:
                        return
                    pipe.multi()
                    for version in due:
                        MIGRATIONS[version](pipe)
                    pipe.set(SCHEMA_KEY, SCHEMA_VERSION)
                    pipe.execute()
                    return
                except WatchError:
                    continue  # another worker migrated meanwhile: read again

    def call(self, operation: Callable[[redis.Redis], T]) -> T:
        """`operation` on the client, under the deadline and the breaker."""
        return self._breaker.call(lambda: operation(self.client))

    def run(self, script: Any, keys: list[str], args: list[str]) -> Any:
        """A registered Lua script (loaded again if the server lost it), under the breaker."""
        return self.call(lambda client: script(keys=keys, args=args, client=client))

    def multi(self, build: Callable[[Any], object]) -> list[Any]:
        """The commands `build` queues on a pipeline, run as one MULTI/EXEC; their answers."""

        def run(client: redis.Redis) -> list[Any]:
            with client.pipeline(transaction=True) as pipe:
                build(pipe)
                return list(pipe.execute())

        return self.call(run)

    def schema(self) -> int:
        raw = self.call(lambda client: client.get(SCHEMA_KEY))
        return int(raw) if raw is not None else 0

    def probe(self) -> None:
        def write_read_delete(client: redis.Redis) -> None:
            client.set(PROBE_KEY, "1", ex=60)
            if client.get(PROBE_KEY) is None:
                raise ResponseError("PROBE a record written could not be read back")
            client.delete(PROBE_KEY)

        self.call(write_read_delete)

    def close(self) -> None:
        self.client.close()
        self.client.connection_pool.disconnect()


class RedisSeenRequests:
    """`SeenRequests` as `SET gathr:seen:<key> 1 NX PX <ttl>`: atomic on the server."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    def first_time(self, key: str, ttl: float) -> bool:
        return bool(self._store.call(lambda client: client.set(SEEN_PREFIX + key, 1, nx=True, px=int(milliseconds(ttl)))))
