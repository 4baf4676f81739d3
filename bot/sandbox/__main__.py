"""``python -m bot.sandbox [--host H] [--port P] [--live] [--all]``: serve every fake until Ctrl-C and print
the environment that points Sitrep at them (on stderr, as ``export`` lines)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from bot.sandbox.server import Sandbox, sandbox_env
from bot.sandbox.stories import all_stories


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--live", action="store_true",
                        help="keep the story anchored to the clock (the deploy stays 6 minutes ago)")
    parser.add_argument("--all", action="store_true",
                        help="serve every built-in story (checkout, cart, orders, search), not only bad_deploy")
    args = parser.parse_args(argv)
    sandbox = Sandbox(all_stories() if args.all else None, live=args.live)
    for key, value in sandbox_env(f"http://{args.host}:{args.port}", sandbox).items():
        print(f"export {key}={value}", file=sys.stderr)
    uvicorn.run(sandbox.asgi(), host=args.host, port=args.port, log_level="info", ws="none")


if __name__ == "__main__":
    main()
