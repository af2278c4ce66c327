"""The floor: a bare Bolt app whose `/gathr` only acks, served as gathr-bot serves.

Over HTTP (PORT) behind the same waitress server with the same options, or in Socket Mode
(SLACK_APP_TOKEN set); logging at LOG_LEVEL in the bot's format, to stdout. What any Bolt
app costs on this machine, so that the bot's figures can be read as a ratio to it.

    SLACK_BOT_TOKEN=… SLACK_SIGNING_SECRET=… SLACK_API_URL=… PORT=… python bench/floor_app.py
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_bolt import Ack, App  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from bot.__main__ import configure_logging  # noqa: E402
from bot.slack.app import WAITRESS_OPTIONS, health_wrapped  # noqa: E402


def main() -> None:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), audit=False)
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @app.command("/gathr")
    def only_ack(ack: Ack) -> None:
        ack()

    if os.environ.get("SLACK_APP_TOKEN"):
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(app, os.environ["SLACK_APP_TOKEN"], web_client=client).connect()  # type: ignore[no-untyped-call]
        logging.getLogger(__name__).info("floor serving Slack in Socket Mode")
        threading.Event().wait()
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from waitress import serve

    logging.getLogger(__name__).info("floor serving Slack over HTTP on port %s", os.environ["PORT"])
    serve(health_wrapped(SlackRequestHandler(app)), host="127.0.0.1", port=int(os.environ["PORT"]), **WAITRESS_OPTIONS)


if __name__ == "__main__":
    main()
