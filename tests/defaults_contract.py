"""The contract of every `ChannelDefaults` store (`bot/state/defaults.py`), for every backend.

Not collected here (no `Test` prefix): a backend subclasses `ChannelDefaultsContract` in its
own test module and gives the fixture `open_store`, a function that opens a handle on ONE
store, the same store at every call (memory: the same object; SQLite: a new connection to one
file; Redis: a new client of one server), as `tests/state_contract.py` does for the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from bot.state.defaults import ChannelDefaults

OpenStore = Callable[[], ChannelDefaults]


class ChannelDefaultsContract:
    @pytest.fixture
    def open_store(self) -> OpenStore:
        raise NotImplementedError("a backend's test class gives open_store")

    def test_a_channel_has_no_default_until_one_is_set(self, open_store: OpenStore) -> None:
        assert open_store().get("C1") is None

    def test_a_default_is_kept_per_channel(self, open_store: OpenStore) -> None:
        store = open_store()
        store.set("C1", "sales")
        store.set("C2", "finance")
        assert (store.get("C1"), store.get("C2"), store.get("C3")) == ("sales", "finance", None)

    def test_setting_again_replaces_it(self, open_store: OpenStore) -> None:
        store = open_store()
        store.set("C1", "sales")
        store.set("C1", "finance")
        assert store.get("C1") == "finance"

    def test_clear_removes_it_and_says_which_it_was(self, open_store: OpenStore) -> None:
        store = open_store()
        store.set("C1", "sales")
        assert store.clear("C1") == "sales"
        assert store.get("C1") is None
        assert store.clear("C1") is None

    def test_another_handle_on_the_same_store_sees_it(self, open_store: OpenStore) -> None:
        open_store().set("C1", "sales")
        assert open_store().get("C1") == "sales"
        assert open_store().clear("C1") == "sales"
        assert open_store().get("C1") is None

    @pytest.mark.parametrize("project", ["Sales", "a/b", "été 2024", "x" * 200, "it's \"quoted\""])
    def test_any_project_name_comes_back_as_it_was(self, open_store: OpenStore, project: str) -> None:
        store = open_store()
        store.set("C1", project)
        assert open_store().get("C1") == project

    def test_racing_sets_leave_one_of_them(self, open_store: OpenStore) -> None:
        names = [f"project-{n}" for n in range(8)]
        handles = [open_store() for _ in names]  # opened first: racing sets, not racing opens
        threads = [
            threading.Thread(target=lambda h=handle, n=name: h.set("C1", n)) for handle, name in zip(handles, names)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert open_store().get("C1") in names
