"""What the bot remembers, each kind behind a small protocol with an in-memory store.

A new backend (SQLite, Redis) implements the same protocols and passes the same contract
tests (`tests/state_contract.py`).
"""
