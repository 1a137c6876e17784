"""``python -m examples.mediz_app [--host 127.0.0.1] [--port 8000]``: run the reference app."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from .app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the meDIZ reference app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app()
    url = f"http://{args.host}:{args.port}"
    print(f"meDIZ reference app: open {url}/api/symptoms/popular  (Ctrl+C to stop)", flush=True)
    # the rate limiter decides who the client is (create_app(trusted_proxies=...)): uvicorn's
    # default --proxy-headers would rewrite it from X-Forwarded-For for any peer on 127.0.0.1
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=False)


if __name__ == "__main__":
    main()
