"""What the bot remembers, each kind behind a small protocol with an in-memory store.

`locks` (one change at a time per app), `confirmations` (awaiting a click), `waits` (running
waits as records), `watches` (channel watches and last statuses), `seen` (Slack requests
already handled). Each protocol method is one atomic step, as one SQLite transaction or one
Redis command or script can take it; records are frozen dataclasses of plain data
(`records`), compared by value. Times are the caller's clock (the scheduler's `now`): a store
that outlives the process needs that clock to be one that does too.

A new backend (SQLite, Redis) implements the same protocols and passes the same contract
tests (`tests/state_contract.py`).

The backends: `store` opens the one of GATHR_STATE_URL (memory, `sqlite_store` with
`sqlite_tables`, `redis_store` with `redis_keys`), whose `seen`, `stores` and `leases` are
the protocols above and `leases` (one worker at a time, on the store's own clock); every
call of a durable store has a deadline and fails fast while the store is lost (`breaker`).
"""
