"""The key every copy of one Slack request shares, so that `bot.state.seen` can tell a
redelivery or a replay from a new request."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def request_key(body: Mapping[str, Any]) -> str | None:
    """The key every copy of one Slack request shares, or None if it has none.

    A slash command: its `trigger_id` (one per invocation), else its `response_url`. A
    click: the clicker, the action and its `action_ts` (one per click), with the trigger_id.
    A form's submission: its view's ID (a view that passed its checks is submitted once).
    Keys are hashed, so a huge field costs no memory.
    """
    team = team_of(body)
    if "command" in body:
        unique = body.get("trigger_id") or body.get("response_url")
        return _hashed("command", team, str(body.get("command", "")), str(unique)) if unique else None
    if body.get("type") == "block_actions":
        user = body.get("user") or {}
        actions = body.get("actions") or [{}]
        action = actions[0] if isinstance(actions[0], Mapping) else {}
        parts = (
            str(user.get("id", "") if isinstance(user, Mapping) else ""),
            str(action.get("action_id", "")),
            str(action.get("value", "")),
            str(action.get("action_ts", "")),
            str(body.get("trigger_id", "")),
        )
        return _hashed("click", team, *parts) if any(parts[3:]) else None
    if body.get("type") == "view_submission":  # a form runs once: its view's ID
        user = body.get("user") or {}
        view = body.get("view") or {}
        view_id = str(view.get("id") or "") if isinstance(view, Mapping) else ""
        user_id = str(user.get("id", "") if isinstance(user, Mapping) else "")
        return _hashed("view", team, user_id, view_id) if view_id else None
    return None


def envelope_key(envelope_id: str) -> str:
    return _hashed("envelope", envelope_id)


def team_of(body: Mapping[str, Any]) -> str:
    """The workspace a Slack payload comes from: `team.id` (clicks) or `team_id` (commands)."""
    team = body.get("team")
    if isinstance(team, Mapping):
        return str(team.get("id") or "")
    return str(body.get("team_id") or "")


def _hashed(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()
    return f"{kind}:{digest}"
