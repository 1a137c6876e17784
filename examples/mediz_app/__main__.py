"""``python -m examples.mediz_app [--host 127.0.0.1] [--port 8000]``: run the reference app."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from mediz_infra import Settings

from .app import create_app
from .reminders import Reminders


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the meDIZ reference app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    url = f"http://{args.host}:{args.port}"
    settings = Settings()
    demo = "MEDIZ_CHAT_WEBHOOK_URL" not in os.environ
    if demo:  # POST /api/chat forwards to the app's own fake webhook: works offline
        settings = Settings(chat_webhook_url=f"{url}/_demo/webhook")
    # reminders go to MEDIZ_PUSH_URL, or to the in-process fake provider (GET /_demo/push/)
    reminders = Reminders(settings, push_url=os.environ.get("MEDIZ_PUSH_URL") or None)
    app = create_app(settings, demo_webhook_route=demo, reminders=reminders)
    print(f"meDIZ reference app: open {url}/api/symptoms/popular  (Ctrl+C to stop)", flush=True)
    # the rate limiter decides who the client is (create_app(trusted_proxies=...)): uvicorn's
    # default --proxy-headers would rewrite it from X-Forwarded-For for any peer on 127.0.0.1
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=False)


if __name__ == "__main__":
    main()
