"""Self-check of tests/fakes/slack.py against the real slack_sdk and slack_bolt classes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

try:  # /work/main on sys.path (pythonpath setting, tests/__init__.py, python -m pytest)
    from tests.fakes.slack import (
        FakeSlack,
        close_socket_mode_handler,
        fake_slack,  # noqa: F401  (fixture)
        form_body,
        interactive_body,
        signed_http_headers,
        slash_command_payload,
    )
except ModuleNotFoundError:  # plain `pytest`: only tests/ is on sys.path
    from fakes.slack import (  # type: ignore[no-redef]
        FakeSlack,
        close_socket_mode_handler,
        fake_slack,  # noqa: F401  (fixture)
        form_body,
        interactive_body,
        signed_http_headers,
        slash_command_payload,
    )

BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"


@pytest.fixture
def fake(fake_slack: FakeSlack) -> FakeSlack:  # noqa: F811
    return fake_slack


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake.api_url)


@pytest.fixture
def app(fake: FakeSlack) -> App:
    # The client carries the token (passing token= too only logs a warning). Without
    # token_verification_enabled=False, App() calls auth.test in its constructor; with
    # it, Bolt calls auth.test once, lazily, on the first request it dispatches.
    return App(
        client=WebClient(token=BOT_TOKEN, base_url=fake.api_url),
        signing_secret="x",
        token_verification_enabled=False,
    )


@pytest.fixture
def socket_mode(fake: FakeSlack, app: App) -> Iterator[SocketModeHandler]:
    handler = SocketModeHandler(app, APP_TOKEN)
    handler.connect()  # unlike start(), does not block
    fake.wait_connected()
    yield handler
    close_socket_mode_handler(handler)  # before the fake closes, or the client reconnects


# ---------------------------------------------------------------- Web API


def test_post_message_returns_unique_increasing_ts(fake: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C111", text="hello")
    second = client.chat_postMessage(channel="C111", text="again", thread_ts=first["ts"])

    assert first["ok"] and first["channel"] == "C111"
    assert float(first["ts"]) < float(second["ts"])
    assert first["ts"] == "1700000000.000100"
    assert first["message"]["text"] == "hello"
    call = fake.calls("chat.postMessage")[0]
    assert call.params == {"channel": "C111", "text": "hello"}
    assert call.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert call.token == BOT_TOKEN
    assert call.headers["content-type"].startswith("application/json")  # chat.* always JSON
    assert fake.messages("C111")[1]["thread_ts"] == first["ts"]


def test_chat_update_edits_the_posted_message(fake: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C111", text="starting", blocks=[{"type": "divider"}])

    updated = client.chat_update(channel="C111", ts=posted["ts"], text="RUNNING")

    assert updated["ts"] == posted["ts"] and updated["text"] == "RUNNING"
    assert fake.message("C111", posted["ts"])["text"] == "RUNNING"
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C111", ts="1.000000", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_query_form_and_multipart_fields_are_parsed(fake: FakeSlack, client: WebClient) -> None:
    # slack_sdk puts `params=` in the query string, `data=` in a urlencoded body, and
    # switches to multipart only with `files=`.
    client.api_call("chat.postMessage", params={"channel": "C111", "text": "query"})
    client.api_call("chat.postMessage", data={"channel": "C111", "text": "form", "blocks": "[]"})
    client.api_call("chat.postEphemeral", data={"channel": "C111", "user": "U111"}, files={"text": b"multi"})

    query, form, multipart = fake.calls()
    assert query.params == {"channel": "C111", "text": "query"}
    assert form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form.params == {"channel": "C111", "text": "form", "blocks": "[]"}
    assert fake.message("C111", form.response["ts"])["blocks"] == []  # JSON string decoded
    assert multipart.headers["content-type"].startswith("multipart/form-data")
    assert multipart.params == {"channel": "C111", "user": "U111", "text": b"multi"}
    assert multipart.response["message_ts"]


def test_fail_answers_not_in_channel_only_where_asked(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", "not_in_channel", channel="CPRIVATE", times=1)

    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="CPRIVATE", text="hi")

    assert err.value.response["error"] == "not_in_channel"
    assert client.chat_postMessage(channel="C111", text="hi")["ok"]
    assert client.chat_postMessage(channel="CPRIVATE", text="hi")["ok"]  # times=1 used up
    assert [c.ok for c in fake.calls("chat.postMessage")] == [False, True, True]


def test_ratelimit_is_retried_by_rate_limit_handler(fake: FakeSlack) -> None:
    fake.ratelimit("chat.postMessage", retry_after=0, times=1)  # handler sleeps 0 + random() s
    client = WebClient(
        token=BOT_TOKEN,
        base_url=fake.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )

    assert client.chat_postMessage(channel="C111", text="hi")["ok"]
    assert [c.status for c in fake.calls("chat.postMessage")] == [429, 200]


def test_ratelimit_without_handler_raises_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.ratelimit("chat.update", retry_after=7)

    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C111", ts="1.0", text="x")

    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert err.value.response.headers["Retry-After"] == "7"


def test_auth_test_returns_identity_and_scopes_header(fake: FakeSlack, client: WebClient) -> None:
    resp = client.auth_test()

    assert resp["user_id"] == "UBOT" and resp["bot_id"] == "BBOT" and resp["team_id"] == "T111"
    assert resp.headers["x-oauth-scopes"] == "commands,chat:write,chat:write.public,usergroups:read"
    fake.scopes = "commands"
    assert client.auth_test().headers["x-oauth-scopes"] == "commands"


def test_usergroups_users_list(fake: FakeSlack, client: WebClient) -> None:
    fake.set_usergroup("S111", ["U111", "U222"])

    assert client.usergroups_users_list(usergroup="S111")["users"] == ["U111", "U222"]
    with pytest.raises(SlackApiError) as err:
        client.usergroups_users_list(usergroup="S999")
    assert err.value.response["error"] == "no_such_subteam"


def test_auth_faults_and_unknown_methods(fake: FakeSlack, client: WebClient) -> None:
    def error_of(c: WebClient, method: str) -> str:
        with pytest.raises(SlackApiError) as err:
            c.api_call(method)
        return str(err.value.response["error"])

    assert error_of(client, "foo.bar") == "unknown_method"
    assert error_of(WebClient(base_url=fake.api_url), "auth.test") == "not_authed"
    assert error_of(WebClient(token=APP_TOKEN, base_url=fake.api_url), "auth.test") == "not_allowed_token_type"
    fake.bot_token = "xoxb-other"
    assert error_of(client, "auth.test") == "invalid_auth"
    fake.bot_token = None
    fake.invalid_auth()
    assert error_of(client, "chat.postMessage") == "invalid_auth"


def test_set_response_adds_a_method(fake: FakeSlack, client: WebClient) -> None:
    fake.set_response("conversations.info", lambda p: {"ok": True, "channel": {"id": p["channel"]}})

    assert client.conversations_info(channel="C111")["channel"] == {"id": "C111"}


def test_wait_for_blocks_until_calls_arrive(fake: FakeSlack, client: WebClient) -> None:
    poster = threading.Thread(target=lambda: [client.chat_postMessage(channel="C1", text=str(i)) for i in range(3)])
    poster.start()

    calls = fake.wait_for("chat.postMessage", count=3, timeout=5)

    poster.join()
    assert [c.params["text"] for c in calls] == ["0", "1", "2"]
    with pytest.raises(TimeoutError, match="chat.update"):
        fake.wait_for("chat.update", timeout=0.05)


# ---------------------------------------------------------------- response_url


def test_response_url_records_posts_and_injects_faults(fake: FakeSlack) -> None:
    ok = WebhookClient(fake.response_url("cmd")).send(text="done", response_type="ephemeral")
    fake.fail_response_url("gone", status=404, times=1)
    gone = WebhookClient(fake.response_url("gone")).send(text="late")

    assert (ok.status_code, ok.body) == (200, "ok")
    assert fake.responses("cmd") == [{"text": "done", "response_type": "ephemeral"}]
    assert (gone.status_code, gone.body) == (404, "expired_url")
    assert WebhookClient(fake.response_url("gone")).send(text="again").status_code == 200


# ---------------------------------------------------------------- Socket Mode


def test_slash_command_over_socket_mode_acks_with_text(
    fake: FakeSlack, app: App, socket_mode: SocketModeHandler
) -> None:
    seen: list[dict[str, Any]] = []

    @app.command("/gathr")
    def gathr(ack: Ack, command: dict[str, Any]) -> None:
        seen.append(command)
        ack(f"got: {command['text']}")

    envelope_id = fake.send_envelope("slash_commands", fake.slash_command_payload("status orders"))
    ack = fake.wait_for_ack(envelope_id)

    assert ack == {"envelope_id": envelope_id, "payload": {"text": "got: status orders"}}
    assert seen[0]["user_id"] == "U111" and seen[0]["channel_id"] == "C111"
    assert fake.calls("apps.connections.open")[0].token == APP_TOKEN
    assert fake.calls("auth.test")  # Bolt's lazy authorization on the first request


def test_ack_with_blocks_is_json_payload_and_bare_ack_has_none(
    fake: FakeSlack, app: App, socket_mode: SocketModeHandler
) -> None:
    @app.command("/gathr")
    def gathr(ack: Ack, command: dict[str, Any]) -> None:
        if command["text"]:
            ack(text="usage", response_type="ephemeral")
        else:
            ack()

    with_text = fake.wait_for_ack(fake.send_envelope("slash_commands", fake.slash_command_payload("bad")))
    bare_id = fake.send_envelope("slash_commands", fake.slash_command_payload(""))

    assert with_text["payload"] == {"text": "usage", "response_type": "ephemeral"}
    assert fake.wait_for_ack(bare_id) == {"envelope_id": bare_id}


def test_block_actions_over_socket_mode_reach_action_listener(
    fake: FakeSlack, app: App, socket_mode: SocketModeHandler
) -> None:
    @app.action("gathr_confirm")
    def confirm(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        respond(f"confirmed {body['actions'][0]['value']} by {body['user']['id']}")

    payload = fake.block_actions_payload("gathr_confirm", "stop:proj:app", response_name="click", user_id="U222")
    envelope_id = fake.send_envelope("interactive", payload)

    assert fake.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    assert fake.wait_for_responses("click") == [{"text": "confirmed stop:proj:app by U222"}]


def test_disconnect_message_makes_the_client_reconnect(
    fake: FakeSlack, app: App, socket_mode: SocketModeHandler
) -> None:
    app.command("/gathr")(lambda ack: ack("still here"))

    fake.send_disconnect()
    fake.wait_connected(count=2)

    ack = fake.wait_for_ack(fake.send_envelope("slash_commands", fake.slash_command_payload("x")))
    assert ack["payload"] == {"text": "still here"}
    assert len(fake.calls("apps.connections.open")) == 2


def test_app_with_default_token_verification_calls_auth_test_at_construction(fake: FakeSlack) -> None:
    App(client=WebClient(token=BOT_TOKEN, base_url=fake.api_url), signing_secret="x")
    assert len(fake.calls("auth.test")) == 1

    fake.invalid_auth()
    with pytest.raises(BoltError):
        App(client=WebClient(token=BOT_TOKEN, base_url=fake.api_url), signing_secret="x")


# ---------------------------------------------------------------- HTTP mode helpers


def test_signed_http_headers_pass_bolt_request_verification(fake: FakeSlack) -> None:
    app = App(
        client=WebClient(token=BOT_TOKEN, base_url=fake.api_url),
        signing_secret="shh",
        token_verification_enabled=False,
    )
    app.command("/gathr")(lambda ack: ack("signed ok"))
    body = form_body(slash_command_payload("help", response_url=fake.response_url()))

    good = app.dispatch(BoltRequest(body=body, headers=signed_http_headers("shh", body)))
    bad = app.dispatch(BoltRequest(body=body, headers=signed_http_headers("wrong", body)))

    assert (good.status, good.body) == (200, "signed ok")
    assert bad.status == 401
    action_body = interactive_body(fake.block_actions_payload("a"))
    headers = signed_http_headers("shh", action_body, timestamp=int(time.time()))
    assert SignatureVerifier("shh").is_valid_request(action_body, headers)


def test_close_joins_every_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    before = set(threading.enumerate())
    with FakeSlack() as fake:
        client = WebClient(token=BOT_TOKEN, base_url=fake.api_url)
        client.chat_postMessage(channel="C111", text="hi")
        handler = SocketModeHandler(
            App(client=client, signing_secret="x", token_verification_enabled=False), APP_TOKEN
        )
        handler.connect()
        fake.wait_connected()
        close_socket_mode_handler(handler)

    assert set(threading.enumerate()) - before == set()


def test_keep_alive_answers_many_calls_on_one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # The benchmarks' fake answers as Slack does: HTTP/1.1, the connection kept open.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    import http.client
    from urllib.parse import urlsplit

    with FakeSlack(keep_alive=True) as fake:
        address = urlsplit(fake.api_url)
        connection = http.client.HTTPConnection(address.hostname or "", address.port)
        try:
            for n in range(3):
                connection.request(
                    "POST", f"{address.path}chat.postMessage", body=form_body({"channel": "C1", "text": str(n)}),
                    headers={"Authorization": f"Bearer {BOT_TOKEN}", "Content-Type": "application/x-www-form-urlencoded"},
                )
                answer = connection.getresponse()
                assert answer.status == 200 and not answer.will_close
                answer.read()
        finally:
            connection.close()
        assert [m["text"] for m in fake.messages("C1")] == ["0", "1", "2"]
