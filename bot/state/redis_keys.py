"""App locks, confirmations, running waits, watches, leases, channel defaults, the request
history and the last update fields (`bot/state/`'s protocols) in the keys of one Redis store (`bot.state.redis_store`), shared by every worker.

Each method is one Redis command, one MULTI, or one Lua script (atomic on the server): a
compare-and-change never reads in Python and writes later. Scripts compare plain strings
only (a token, a user ID, a number), never JSON, so no Lua JSON library is needed; the
records themselves are JSON (`bot.state.records`). A key named after a user's text (an app,
a channel, a token) holds a hash of it, so any text makes a short, well-formed key.

Keys (all under `gathr:`): `locks` and `locks:tokens` (hashes: app -> holder, app -> its
token); `confirm:<h>` (a hash: record, user, expires) with `confirm:expiry` (a sorted set
by expiry, for `expire`); `waits` and `waits:status` (hashes: key -> record, key -> last
status); `watch:app:<h>` and `watch:channel:<h>` (sets, both ways), `watch:apps` (a set),
`watch:status` (a hash: app -> last status); `lease:<h>` (the owner, expiring on the
server's clock); `defaults` (a hash: channel -> project); `history` (a sorted set of entries
by the order begun, from the counter `history:seq`) with `history:<h>` (a hash: record, name,
and outcome and ended once finished); `updates` (a hash: [project, app] -> fields).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.model import AppStatus, WorkflowStatus
from bot.state.confirmations import Confirmation
from bot.state.history import HISTORY_LIMIT, HistoryEntry
from bot.state.last_updates import UpdateFields
from bot.state.locks import Holder
from bot.state.records import Record
from bot.state.waits import WaitRecord

if TYPE_CHECKING:
    from bot.state.redis_store import RedisStore

PREFIX = "gathr:"
LOCKS, LOCK_TOKENS = PREFIX + "locks", PREFIX + "locks:tokens"
CONFIRM, CONFIRM_EXPIRY = PREFIX + "confirm:", PREFIX + "confirm:expiry"
WAITS, WAIT_STATUS = PREFIX + "waits", PREFIX + "waits:status"
WATCH_APP, WATCH_CHANNEL = PREFIX + "watch:app:", PREFIX + "watch:channel:"
WATCH_APPS, WATCH_STATUS = PREFIX + "watch:apps", PREFIX + "watch:status"
LEASE = PREFIX + "lease:"
DEFAULTS = PREFIX + "defaults"  # a hash: channel -> its default project
HISTORY, HISTORY_SEQ, HISTORY_ENTRY = PREFIX + "history", PREFIX + "history:seq", PREFIX + "history:"
UPDATES = PREFIX + "updates"  # a hash: JSON [project, app] -> the fields of its last update

TAKE_FIELD = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value then redis.call('HDEL', KEYS[1], ARGV[1]) end
return value
"""
ACQUIRE = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then return current end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return false
"""
RELEASE = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""
CLAIM = """
local kept = redis.call('HMGET', KEYS[1], 'record', 'user', 'expires')
if not kept[1] or tonumber(ARGV[2]) > tonumber(kept[3]) or kept[2] ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
return kept[1]
"""
EXPIRE = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for _, member in ipairs(gone) do
  redis.call('DEL', ARGV[2] .. member)
  redis.call('ZREM', KEYS[1], member)
end
return #gone
"""
SET_STATUS = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""
REMOVE_WAIT = """
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return removed
"""
ADD_WATCH = """
if redis.call('SADD', KEYS[1], ARGV[2]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""
REMOVE_WATCH = """
if redis.call('SREM', KEYS[1], ARGV[2]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return 1
"""
SWAP_STATUS = """
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return previous
"""
# The entry is the newest (the counter's next number), replacing one of the same id; the
# oldest beyond ARGV[4] go, their hashes with them.
BEGIN_ENTRY = """
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'record', ARGV[2], 'name', ARGV[3])
redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if over > 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, over - 1)) do
    redis.call('DEL', ARGV[5] .. member)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
end
"""
FINISH_ENTRY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'outcome', ARGV[1], 'ended', ARGV[2])
return 1
"""
# Newest first, at most ARGV[1], of name ARGV[3] only if ARGV[2] is '1': [record, outcome, ended].
RECENT_ENTRIES = """
local limit, found = tonumber(ARGV[1]), {}
local last = -1
if ARGV[2] ~= '1' then last = limit - 1 end
for _, member in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, last)) do
  if #found >= limit then break end
  local kept = redis.call('HMGET', ARGV[4] .. member, 'record', 'name', 'outcome', 'ended')
  if kept[1] and (ARGV[2] ~= '1' or kept[2] == ARGV[3]) then
    found[#found + 1] = {kept[1], kept[3], kept[4]}
  end
end
return found
"""

TAKE_LEASE = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
RENEW_LEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


def hashed(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def dumps(record: Record) -> str:
    return json.dumps(record.to_plain(), ensure_ascii=False, separators=(",", ":"))


def text(raw: Any) -> str:
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)


class RedisAppLocks:
    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._acquire = store.client.register_script(ACQUIRE)
        self._release = store.client.register_script(RELEASE)

    def acquire(self, app: str, holder: Holder) -> Holder | None:
        current = self._store.run(self._acquire, [LOCKS, LOCK_TOKENS], [app, dumps(holder), holder.token])
        return None if current is None else Holder.from_plain(json.loads(current))

    def holder(self, app: str) -> Holder | None:
        raw = self._store.call(lambda client: client.hget(LOCKS, app))
        return None if raw is None else Holder.from_plain(json.loads(raw))

    def release(self, app: str, token: str) -> bool:
        return bool(
            self._store.run(self._release, [LOCKS, LOCK_TOKENS], [app, token])
        )

    def held(self) -> dict[str, Holder]:
        raw = self._store.call(lambda client: client.hgetall(LOCKS))
        return {text(app): Holder.from_plain(json.loads(record)) for app, record in raw.items()}


class RedisConfirmations:
    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._claim = store.client.register_script(CLAIM)
        self._expire = store.client.register_script(EXPIRE)

    def put(self, confirmation: Confirmation) -> None:
        member = hashed(confirmation.token)
        fields = {"record": dumps(confirmation), "user": confirmation.user_id, "expires": repr(confirmation.expires)}
        self._store.multi(
            lambda pipe: (
                pipe.delete(CONFIRM + member),
                pipe.hset(CONFIRM + member, mapping=fields),
                pipe.zadd(CONFIRM_EXPIRY, {member: confirmation.expires}),
            )
        )

    def claim(self, token: str, user_id: str, now: float) -> Confirmation | None:
        member = hashed(token)
        raw = self._store.run(self._claim, [CONFIRM + member, CONFIRM_EXPIRY], [user_id, repr(now), member])
        return None if raw is None else Confirmation.from_plain(json.loads(raw))

    def peek(self, token: str, now: float) -> Confirmation | None:
        record, expires = self._store.call(lambda client: client.hmget(CONFIRM + hashed(token), ["record", "expires"]))
        if record is None or expires is None or now > float(expires):
            return None
        return Confirmation.from_plain(json.loads(record))

    def expire(self, now: float) -> int:
        return int(
            self._store.run(self._expire, [CONFIRM_EXPIRY], [repr(now), CONFIRM])
        )


class RedisRunningWaits:
    """The last status is a hash of its own, so that `set_status` changes nothing else."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._set_status = store.client.register_script(SET_STATUS)
        self._remove = store.client.register_script(REMOVE_WAIT)

    def put(self, record: WaitRecord) -> None:
        def queue(pipe: Any) -> None:
            pipe.hset(WAITS, record.key, dumps(record))
            if record.last_status is None:
                pipe.hdel(WAIT_STATUS, record.key)
            else:
                pipe.hset(WAIT_STATUS, record.key, record.last_status.value)

        self._store.multi(queue)

    def set_status(self, key: str, status: AppStatus | WorkflowStatus) -> bool:
        return bool(
            self._store.run(self._set_status, [WAITS, WAIT_STATUS], [key, status.value])
        )

    def remove(self, key: str) -> bool:
        return bool(self._store.run(self._remove, [WAITS, WAIT_STATUS], [key]))

    def all(self) -> list[WaitRecord]:
        records, statuses = self._store.multi(lambda pipe: (pipe.hgetall(WAITS), pipe.hgetall(WAIT_STATUS)))
        waits = []
        for key, raw in records.items():
            status = statuses.get(key)
            record = WaitRecord.from_plain(json.loads(raw))
            waits.append(replace(record, last_status=record.status_of(None if status is None else text(status))))
        return sorted(waits, key=lambda record: (record.started, record.key))


class RedisChannelWatches:
    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._add = store.client.register_script(ADD_WATCH)
        self._remove = store.client.register_script(REMOVE_WATCH)
        self._swap = store.client.register_script(SWAP_STATUS)

    def _keys(self, app: str, channel: str) -> list[str]:
        return [WATCH_APP + hashed(app), WATCH_CHANNEL + hashed(channel), WATCH_APPS]

    def add(self, app: str, channel: str) -> bool:
        keys = self._keys(app, channel)
        return bool(self._store.run(self._add, keys, [app, channel]))

    def remove(self, app: str, channel: str) -> bool:
        keys = self._keys(app, channel)
        return bool(self._store.run(self._remove, keys, [app, channel]))

    def channels(self, app: str) -> frozenset[str]:
        return self._members(WATCH_APP + hashed(app))

    def apps(self, channel: str) -> frozenset[str]:
        return self._members(WATCH_CHANNEL + hashed(channel))

    def watched_apps(self) -> frozenset[str]:
        return self._members(WATCH_APPS)

    def last_status(self, app: str) -> AppStatus | None:
        raw = self._store.call(lambda client: client.hget(WATCH_STATUS, app))
        return None if raw is None else AppStatus(text(raw))

    def swap_status(self, app: str, status: AppStatus) -> AppStatus | None:
        raw = self._store.run(self._swap, [WATCH_STATUS], [app, status.value])
        return None if raw is None else AppStatus(text(raw))

    def forget_status(self, app: str) -> None:
        self._store.call(lambda client: client.hdel(WATCH_STATUS, app))

    def _members(self, key: str) -> frozenset[str]:
        return frozenset(text(member) for member in self._store.call(lambda client: client.smembers(key)))


class RedisLeases:
    """Leases that lapse on the server's clock (PX): no worker's clock is trusted."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._take = store.client.register_script(TAKE_LEASE)
        self._renew = store.client.register_script(RENEW_LEASE)
        self._release = store.client.register_script(RELEASE_LEASE)

    def take(self, name: str, owner: str, ttl: float) -> bool:
        return bool(self._store.run(self._take, [LEASE + hashed(name)], [owner, milliseconds(ttl)]))

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        return bool(self._store.run(self._renew, [LEASE + hashed(name)], [owner, milliseconds(ttl)]))

    def release(self, name: str, owner: str) -> bool:
        return bool(self._store.run(self._release, [LEASE + hashed(name)], [owner]))

    def owner(self, name: str) -> str | None:
        raw = self._store.call(lambda client: client.get(LEASE + hashed(name)))
        return None if raw is None else text(raw)

    def held(self, names: Collection[str]) -> set[str]:
        if not names:
            return set()
        ordered = list(names)
        owners = self._store.call(lambda client: client.mget([LEASE + hashed(name) for name in ordered]))
        return {name for name, raw in zip(ordered, owners) if raw is not None}


def milliseconds(seconds: float) -> str:
    return str(max(1, math.ceil(seconds * 1000)))


class RedisChannelDefaults:
    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._take = store.client.register_script(TAKE_FIELD)

    def get(self, channel_id: str) -> str | None:
        raw = self._store.call(lambda client: client.hget(DEFAULTS, channel_id))
        return None if raw is None else text(raw)

    def set(self, channel_id: str, project: str) -> None:
        self._store.call(lambda client: client.hset(DEFAULTS, channel_id, project))

    def clear(self, channel_id: str) -> str | None:
        raw = self._store.run(self._take, [DEFAULTS], [channel_id])
        return None if raw is None else text(raw)


class RedisRequestHistory:
    """Each entry a hash of its own (its record as begun; how it ended, fields `finish` sets),
    ordered in a sorted set by a counter: begin, finish and recent are one script each."""

    def __init__(self, store: RedisStore, keep: int = HISTORY_LIMIT) -> None:
        self._store = store
        self._keep = keep
        self._begin = store.client.register_script(BEGIN_ENTRY)
        self._finish = store.client.register_script(FINISH_ENTRY)
        self._recent = store.client.register_script(RECENT_ENTRIES)

    def begin(self, entry: HistoryEntry) -> None:
        member = hashed(entry.request_id)
        self._store.run(
            self._begin,
            [HISTORY, HISTORY_SEQ, HISTORY_ENTRY + member],
            [member, dumps(entry), entry.name, str(self._keep), HISTORY_ENTRY],
        )

    def finish(self, request_id: str, outcome: str, ended_at: float) -> None:
        self._store.run(self._finish, [HISTORY_ENTRY + hashed(request_id)], [outcome, repr(ended_at)])

    def recent(self, limit: int, name: str | None = None) -> list[HistoryEntry]:
        if limit <= 0:
            return []
        by_name = ["1", name] if name is not None else ["0", ""]
        rows = self._store.run(self._recent, [HISTORY], [str(limit), *by_name, HISTORY_ENTRY])
        entries = []
        for record, outcome, ended in rows:
            entry = HistoryEntry.from_plain(json.loads(record))
            if outcome is not None:
                entry = replace(entry, outcome=text(outcome), ended_at=float(ended))
            entries.append(entry)
        return entries


class RedisLastUpdates:
    def __init__(self, store: RedisStore) -> None:
        self._store = store

    def get(self, project: str, app: str) -> UpdateFields | None:
        raw = self._store.call(lambda client: client.hget(UPDATES, _pair(project, app)))
        return None if raw is None else UpdateFields.from_plain(json.loads(raw))

    def set(self, project: str, app: str, fields: UpdateFields) -> None:
        self._store.call(lambda client: client.hset(UPDATES, _pair(project, app), dumps(fields)))


def _pair(project: str, app: str) -> str:
    """One hash field for a project and an app that no other pair gives."""
    return json.dumps([project, app], ensure_ascii=False, separators=(",", ":"))
