"""``python -m bot.sandbox [--host H] [--port P] [--live]``: serve every fake until Ctrl-C and print
the environment that points Sitrep at them (on stderr, as ``export`` lines)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from bot.sandbox.server import Sandbox, sandbox_env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--live", action="store_true",
                        help="keep the story anchored to the clock (the deploy stays 6 minutes ago)")
    args = parser.parse_args(argv)
    sandbox = Sandbox(live=args.live)
    for key, value in sandbox_env(f"http://{args.host}:{args.port}", sandbox).items():
        print(f"export {key}={value}", file=sys.stderr)
    uvicorn.run(sandbox.asgi(), host=args.host, port=args.port, log_level="info", ws="none")


if __name__ == "__main__":
    main()
