"""Records (`bot/state/records.py`) are plain values: equal by value, the same after a trip
through JSON (what a database keeps), and holding nothing live."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
from hypothesis import given, settings

from bot.model import Action, AppStatus, Command
from bot.state.locks import Holder
from bot.state.records import Record, from_plain, to_plain
from bot.state.waits import WaitRecord
from tests.state_contract import commands, confirmation, holder, records, wait_record


@given(record=records)
@settings(max_examples=200, deadline=None)
def test_a_record_comes_back_equal_from_plain_json(record: Record) -> None:
    plain = json.loads(json.dumps(record.to_plain()))

    assert type(record).from_plain(plain) == record


@given(command=commands)
def test_a_command_comes_back_equal_alone_and_inside_a_record(command: Command) -> None:
    record = dataclasses.replace(wait_record("w"), command=command)

    assert from_plain(Command, json.loads(json.dumps(to_plain(command)))) == command
    assert WaitRecord.from_plain(json.loads(json.dumps(record.to_plain()))).command == command


def test_records_compare_by_value_not_identity() -> None:
    one = holder(token="t1")
    again = Holder.from_plain(one.to_plain())

    assert again == one and again is not one
    assert hash(again) == hash(one)
    assert dataclasses.replace(one, token="t2") != one


def test_records_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        holder().token = "another"  # type: ignore[misc]


def test_a_record_is_plain_data_once_converted() -> None:
    for record in (holder(), confirmation(), wait_record(status=AppStatus.RUNNING)):
        plain = record.to_plain()
        assert json.loads(json.dumps(plain)) == plain
    assert wait_record(status=AppStatus.RUNNING).to_plain()["last_status"] == "RUNNING"
    assert holder(action=Action.STOP).to_plain()["action"] == "stop"


def test_a_live_object_is_refused() -> None:
    with pytest.raises(TypeError, match="not plain data"):
        to_plain(threading.Lock())


def test_a_record_missing_a_later_field_takes_its_default() -> None:
    plain = wait_record("w", status=AppStatus.RUNNING).to_plain()
    del plain["last_status"], plain["thread_ts"]
    plain["command"] = {"action": "start", "app": "orders-etl"}
    plain["a_field_since_removed"] = 1

    record = WaitRecord.from_plain(plain)

    assert record.last_status is None and record.thread_ts == ""
    assert record.command == Command(Action.START, app="orders-etl")


def test_a_whole_number_read_back_for_a_time_is_a_float() -> None:
    plain = holder().to_plain() | {"since": 5}

    since = Holder.from_plain(plain).since

    assert since == 5.0 and isinstance(since, float)


@pytest.mark.parametrize(
    "field, value",
    [("action", "launch"), ("since", "soon"), ("user_id", 7), ("since", True)],
)
def test_data_of_the_wrong_kind_is_refused(field: str, value: object) -> None:
    plain = holder().to_plain() | {field: value}

    with pytest.raises((TypeError, ValueError)):
        Holder.from_plain(plain)  # type: ignore[arg-type]
