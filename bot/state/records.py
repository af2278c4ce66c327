"""Records as plain data, so that a database can hold them: `Record.to_plain()` gives a dict
of str, int, float, bool, None, lists and dicts (JSON as it is), `from_plain` the record back.

One codec for every frozen dataclass of plain fields (str, numbers, bools, enums, tuples,
optional values, nested dataclasses such as `bot.model.Command`), read from the field types:
a field added to a record or to `Command` needs no code here. A key missing from the data
takes the field's default (an older record), a key the class no longer has is ignored.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, Self, TypeAlias, TypeVar

Plain: TypeAlias = "str | int | float | bool | None | list[Plain] | dict[str, Plain]"
T = TypeVar("T")


def to_plain(value: object) -> Plain:
    """A dataclass, enum, tuple or scalar as plain data."""
    if isinstance(value, enum.Enum):  # before str: a StrEnum is a str too
        return to_plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_plain(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{type(value).__name__} is not plain data")


def from_plain(cls: type[T], data: Mapping[str, Plain]) -> T:
    """The dataclass `cls` from what `to_plain` gave."""
    hints = _hints(cls)
    values = {
        field.name: _convert(hints[field.name], data[field.name])
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
        if field.name in data
    }
    return cls(**values)


class Record:
    """A frozen dataclass that a store keeps as plain data."""

    def to_plain(self) -> dict[str, Plain]:
        plain = to_plain(self)
        assert isinstance(plain, dict)
        return plain

    @classmethod
    def from_plain(cls, data: Mapping[str, Plain]) -> Self:
        return from_plain(cls, data)


_HINTS: dict[type, dict[str, Any]] = {}  # per class: reading the hints evaluates strings


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _convert(kind: Any, value: Plain) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        if value is None and len(options) < len(typing.get_args(kind)):
            return None
        if len(options) != 1:
            raise TypeError(f"cannot tell which of {kind} holds {value!r}")
        return _convert(options[0], value)
    if origin is tuple:
        item_kind = typing.get_args(kind)[0]
        if not isinstance(value, list):
            raise TypeError(f"{value!r} is not a list")
        return tuple(_convert(item_kind, item) for item in value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise TypeError(f"{value!r} is not a mapping")
        return from_plain(kind, value)
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)  # a database or JSON may give 5 for 5.0
    if isinstance(kind, type) and isinstance(value, kind):
        return value
    raise TypeError(f"{value!r} is not a {kind}")
