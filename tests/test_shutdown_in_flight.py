"""SIGTERM while a Gathr call is in flight (CONTRACT §1: exit 0 within 10 s, whatever Gathr
does), with a real `gathr-bot run` against a Gathr that takes the request and never answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from bot.access import AccessPolicy
from bot.core import Core, Requester
from bot.scheduling import ManualScheduler
from bot.waits import WaitPolicy
from bot.watches import WatchBoard
from tests.fakes.slack import FakeSlack, form_body, signed_http_headers
from tests.programs import RunningProgram, gathr_bot, program_environment
from tests.slack_harness import BOT_TOKEN, REQUESTER, SIGNING_SECRET, fake, said, wait_for_call_saying  # noqa: F401


class SilentGathr:
    """Accepts connections and reads what is sent, and never answers a byte."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.received = threading.Event()  # a whole request line has arrived
        self._held: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        seen = b""
        try:
            while chunk := conn.recv(65536):
                seen += chunk
                if b"\r\n\r\n" in seen:
                    self.received.set()
        except OSError:
            pass

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def silent_gathr() -> Iterator[SilentGathr]:
    server = SilentGathr()
    yield server
    server.close()


@contextmanager
def command_reaching_a_silent_gathr(
    fake: FakeSlack, silent_gathr: SilentGathr, tmp_path: Path, text: str, **settings: str
) -> Iterator[RunningProgram]:
    """A real `gathr-bot run` whose command `text` has reached a Gathr that never answers."""
    env = program_environment(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        GATHR_TOKEN="gathr-test-token",
        GATHR_BASE_URL=silent_gathr.base_url,
        GATHR_TIMEOUT="60",
        PORT="0",
        **settings,
    )
    program = RunningProgram(gathr_bot("run"), env=env, cwd=tmp_path)
    try:
        port = int(program.read_until(r"serving Slack over HTTP on .*:(\d+) \(POST /slack/events\)").group(1))
        body = form_body(fake.slash_command_payload(text, user_id=REQUESTER, channel_id="C111"))
        ack = requests.post(
            f"http://127.0.0.1:{port}/slack/events",
            data=body.encode(),
            headers=signed_http_headers(SIGNING_SECRET, body),
            timeout=10,
        )
        assert ack.status_code == 200
        assert silent_gathr.received.wait(20), f"{text!r} never reached Gathr"
        yield program
    finally:
        program.close()


def test_sigterm_during_a_start_that_gathr_never_answers_exits_0_and_tells_the_requester(
    fake: FakeSlack, silent_gathr: SilentGathr, tmp_path: Path
) -> None:
    with command_reaching_a_silent_gathr(
        fake, silent_gathr, tmp_path, "start sales orders-etl", GATHR_ALLOW_START=REQUESTER
    ) as program:
        [parent] = fake.wait_for("chat.postMessage", 1, timeout=20)

        # CONTRACT §1: exit 0 within 10 s of SIGTERM (a correctness bound, not a benchmark).
        assert program.stop(timeout=10) == 0
    edited = [call for call in fake.calls("chat.update") if call.params.get("ts") == parent.response["ts"]]
    assert edited, f"the parent was never edited:\n{program.output()}"
    outcome = said(edited[-1])
    assert "restarted" in outcome and "may or may not have reached Gathr" in outcome
    replies = [call for call in fake.calls("chat.postMessage") if call.params.get("thread_ts") == parent.response["ts"]]
    assert replies and "may or may not have reached Gathr" in said(replies[-1])
    assert "Traceback" not in program.output()


def test_sigterm_during_a_status_read_that_gathr_never_answers_exits_0_and_tells_the_requester(
    fake: FakeSlack, silent_gathr: SilentGathr, tmp_path: Path
) -> None:
    with command_reaching_a_silent_gathr(fake, silent_gathr, tmp_path, "status orders-etl") as program:
        assert program.stop(timeout=10) == 0  # CONTRACT §1, whatever Gathr is doing
    told = [str(response.get("text", "")) for response in fake.responses()]
    assert any("restarting before Gathr answered" in text and "orders-etl" in text for text in told), (
        f"{told}\n{program.output()}"
    )
    assert "Traceback" not in program.output()


def _core_over(gathr: object, scheduler: ManualScheduler | None = None, watches: WatchBoard | None = None) -> Core:
    """A core on a held Gathr and a manual scheduler: everyone allowed, nothing confirmed."""
    return Core(
        gathr=gathr,  # type: ignore[arg-type]
        access=AccessPolicy.everyone(),
        scheduler=scheduler or ManualScheduler(),
        wait_policy=WaitPolicy(interval=5.0, timeout=60.0),
        confirm=frozenset(),
        watches=watches,
    )


class _HeldGathr:
    """A Gathr client whose start is held until the test lets it answer."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.answer = threading.Event()

    def start(self, project: str, app: str, **_kind: object) -> str:
        self.entered.set()
        self.answer.wait(10)
        return "started"

    def status(self, app: str, **_kind: object) -> object:
        raise AssertionError("no status read is expected")

    def close(self) -> None:
        pass


def test_a_shutdown_marks_a_request_on_its_way_to_gathr_unknown_once(caplog: pytest.LogCaptureFixture) -> None:
    import json
    import logging

    from bot.commands import parse
    from tests.recording import RecordingConversation

    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    gathr = _HeldGathr()
    core = _core_over(gathr)
    talk = RecordingConversation()
    requester = Requester("U1", "C1")
    worker = threading.Thread(target=core.run, args=(requester, parse("start sales orders-etl"), talk))
    worker.start()
    assert gathr.entered.wait(10)

    core.shutdown()
    gathr.answer.set()  # Gathr answers after all, too late to be heard
    worker.join(10)

    [parent] = talk.of("post")
    ref = talk.said[0].ref
    assert "may or may not have reached Gathr" in talk.last("edit", ref).text
    assert "may or may not have reached Gathr" in talk.last("reply", ref).text
    assert "accepted" not in talk.everything().lower()  # the late answer changes nothing
    outcomes = [json.loads(r.getMessage())["outcome"] for r in caplog.records if r.name == "gathr_bot.audit"]
    assert len(outcomes) == 1 and outcomes[0].startswith("unknown")
    assert core.run(requester, parse("start sales orders-etl"), talk) is None
    assert "restarting" in talk.last("ephemeral").text


class _HeldStatusGathr:
    """A Gathr client whose status read is held until the test lets it answer."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.answer = threading.Event()

    def status(self, app: str, **_kind: object) -> object:
        from bot.model import AppStatus

        self.entered.set()
        self.answer.wait(10)
        return AppStatus.RUNNING

    def close(self) -> None:
        pass


@pytest.mark.parametrize("text", ["status orders-etl", "watch orders-etl"])
def test_a_shutdown_tells_the_requester_of_a_status_or_watch_whose_read_is_in_flight(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    """CONTRACT §1, 'hand over what is running': a read that will not be answered is said so."""
    import json
    import logging

    from bot.commands import parse
    from tests.recording import RecordingConversation

    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    gathr = _HeldStatusGathr()
    scheduler = ManualScheduler()
    board = WatchBoard(
        read_status=gathr.status,  # type: ignore[arg-type]
        scheduler=scheduler,
        notifier=RecordingConversation(),  # type: ignore[arg-type]
        interval=60.0,
    )
    core = _core_over(gathr, scheduler, board)
    talk = RecordingConversation()
    worker = threading.Thread(target=core.run, args=(Requester("U1", "C1"), parse(text), talk))
    worker.start()
    assert gathr.entered.wait(10)

    core.shutdown()
    told = talk.last("ephemeral").text
    assert "restarting" in told and "orders-etl" in told and "again" in told
    gathr.answer.set()  # Gathr answers after all, too late to be heard
    worker.join(10)

    assert talk.of("post") == [] and len(talk.of("ephemeral")) == 1  # told once, nothing after
    assert board.watches("C1") == []
    outcomes = [json.loads(r.getMessage())["outcome"] for r in caplog.records if r.name == "gathr_bot.audit"]
    assert len(outcomes) == 1 and "shutdown" in outcomes[0]


class _RefusingThenHeldGathr(_HeldStatusGathr):
    """Refuses the start as "already running"; the status read that checks it is held."""

    def start(self, project: str, app: str, **_kind: object) -> str:
        from bot.errors import GathrRejected

        raise GathrRejected("Application is already in running state.", url="http://gathr/start", status=400)


def test_a_shutdown_while_checking_a_refusal_with_a_status_read_tells_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Between Gathr's "already running" and the status read that confirms it, the request
    is neither on its way nor waiting: a shutdown must still end it, once."""
    import json
    import logging

    from bot.commands import parse
    from tests.recording import RecordingConversation

    caplog.set_level(logging.INFO, logger="gathr_bot.audit")
    gathr = _RefusingThenHeldGathr()
    core = _core_over(gathr)
    talk = RecordingConversation()
    worker = threading.Thread(target=core.run, args=(Requester("U1", "C1"), parse("start sales orders-etl"), talk))
    worker.start()
    assert gathr.entered.wait(10)

    core.shutdown()
    ref = talk.said[0].ref
    assert "restarted" in talk.last("edit", ref).text
    gathr.answer.set()  # the status comes after all: RUNNING, too late to be said
    worker.join(10)

    assert "restarted" in talk.last("edit", ref).text and "nothing to do" not in talk.everything()
    outcomes = [json.loads(r.getMessage())["outcome"] for r in caplog.records if r.name == "gathr_bot.audit"]
    assert len(outcomes) == 1 and "shutdown" in outcomes[0]
