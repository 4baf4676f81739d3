"""The ``sitrep`` console script.

    sitrep serve [--host H] [--port P] [--no-worker]
    sitrep worker
    sitrep demo [--port P] [--no-browser]
    sitrep investigate SERVICE [--since 30m] [--message TEXT] [--namespace NS] [--json]
    sitrep policy lint [DIR]
    sitrep policy check ACTION_JSON
    sitrep doctor [--json]

Only results go to stdout; logs and hints go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by main() after the arguments are parsed: `sitrep --help` answers at once
    from bot.settings import Settings

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

#: how to turn each source on, shown when it is not configured
SOURCE_HINTS = {
    "loki": "LOKI_URL=http://loki:3100 (and LOKI_TENANT for multi-tenant Loki)",
    "prometheus": "PROMETHEUS_URL=http://prometheus:9090",
    "argocd": "ARGOCD_URL=https://argocd.example.com and ARGOCD_TOKEN=<token>",
    "jaeger": "JAEGER_URL=http://jaeger-query:16686",
    "kubernetes": "KUBERNETES_API_URL=https://kubernetes.default.svc and KUBERNETES_TOKEN=<token> (or run in-cluster)",
}


def parse_duration(text: str) -> timedelta:
    """``30m`` → 30 minutes. Raises ``argparse.ArgumentTypeError`` with what to type instead."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; use e.g. 90s, 30m, 2h, 1d")
    return timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sitrep",
        description="Sitrep: grounded incident briefs in Slack; remediation only by policy and a human.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve", help="run the Slack app (HTTP on $PORT, or Socket Mode), the alert webhooks, the REST "
                      "API, a worker and the scheduler")
    serve.add_argument("--host", default="0.0.0.0", help="interface to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="port (default $PORT or 3000)")
    serve.add_argument("--no-worker", action="store_true",
                       help="take requests only; `sitrep worker` processes run the investigations")

    worker = commands.add_parser("worker", help="run only a worker: claim queued investigations and run them "
                                                "(several may share one PostgreSQL DATABASE_URL)")
    # set by `sitrep serve` for the worker process it starts: stop when that parent is gone
    worker.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)

    demo = commands.add_parser("demo", help="everything local: sample services, a Slack-like page at "
                                             "http://127.0.0.1:3000/demo, no account or key needed")
    demo.add_argument("--port", type=int, default=None, help="port (default $PORT or 3000)")
    demo.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")

    investigate = commands.add_parser(
        "investigate", help="collect, analyse and print a brief for SERVICE, without Slack"
    )
    investigate.add_argument("service", help="the service to look at, e.g. checkout")
    investigate.add_argument("--since", type=parse_duration, default=timedelta(minutes=30),
                             help="how far back to look (default 30m)")
    investigate.add_argument("--message", default=None, help="what you see, e.g. 'p99 is 8s'")
    investigate.add_argument("--namespace", default=None, help="Kubernetes namespace of the service")
    investigate.add_argument("--json", action="store_true", help="print the Brief as JSON")

    policy = commands.add_parser("policy", help="check policy files and what they decide")
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)
    lint = policy_commands.add_parser("lint", help="validate policy files (exit 1 with file:line messages)")
    lint.add_argument("directory", nargs="?", default=None, help="policy folder (default $SITREP_POLICY_DIR)")
    check = policy_commands.add_parser("check", help="print the decision for an action and the rule that made it")
    check.add_argument("action_json", help='an Action as JSON (or a file), e.g. \'{"kind": "restart", ...}\'')
    check.add_argument("--policy-dir", default=None, help="policy folder (default $SITREP_POLICY_DIR)")
    check.add_argument("--json", action="store_true", help="print the Decision as JSON")

    evaluation = commands.add_parser("eval", help="replay your own incidents against the current analyzer")
    eval_commands = evaluation.add_subparsers(dest="eval_command", metavar="SUBCOMMAND", required=True)
    export = eval_commands.add_parser(
        "export", help="write a replay case (redacted evidence + ground truth) for every brief marked "
                       "right or wrong and every resolved incident whose fix was verified")
    export.add_argument("--out", default="eval-cases", help="folder for the case files (default eval-cases)")
    run = eval_commands.add_parser("run", help="replay case files through today's analyzer/model; print accuracy")
    run.add_argument("directory", nargs="?", default="eval-cases", help="folder of case files (default eval-cases)")

    doctor = commands.add_parser("doctor", help="check every setting against the services it names: ✓/✗, what "
                                                "was called, the fix; exit 1 when something is wrong")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    return parser


def terminal_log_level(command: str, settings: Settings) -> str:
    """``LOG_LEVEL`` when it is set; else WARNING for a person at a terminal, who wants the brief
    (investigate, eval) or the demo's banner and steps, not progress lines."""
    if command in ("investigate", "eval", "demo") and "log_level" not in settings.model_fields_set:
        return "WARNING"
    return settings.log_level


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # start-up creates a few hundred thousand objects that live as long as the process (modules, models,
    # tables, routes): collecting while they are made frees nothing and costs a fifth of the start-up
    gc.disable()
    from pydantic import ValidationError

    from bot.logs import configure_logging
    from bot.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"sitrep: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    level = terminal_log_level(args.command, settings)
    configure_logging(level=level, fmt=settings.log_format, secrets=settings.secret_values())
    if args.command in ("serve", "demo"):
        import bot.web  # noqa: F401  (the server's code, imported while the collector is off)
    elif args.command == "worker":
        import bot.runtime  # noqa: F401
    gc.freeze()  # later collections skip what start-up made
    gc.enable()
    if args.command == "serve":
        return _serve(settings, host=args.host, port=args.port or settings.port, worker=not args.no_worker)
    if args.command == "demo":
        return _demo(port=args.port or settings.port, browser=not args.no_browser, log_level=level)
    if args.command == "worker":
        return asyncio.run(_worker(settings, parent_pid=args.parent_pid))
    if args.command == "investigate":
        return asyncio.run(_investigate(settings, args))
    if args.command == "policy":
        return _policy(settings, args)
    if args.command == "eval":
        return asyncio.run(_eval(settings, args))
    if args.command == "doctor":
        from bot.doctor import main as doctor

        return doctor(settings, as_json=args.json, out=sys.stdout)
    raise AssertionError(args.command)


async def _eval(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.analyst.factory import build_analyst
    from bot.service.replay import ReplayCaseError, export_cases, load_cases, replay
    from bot.store.db import create_schema, make_engine
    from bot.store.incidents import IncidentStore

    if args.eval_command == "export":
        engine = make_engine(settings.database_url)
        try:
            create_schema(engine)
            written = await asyncio.to_thread(export_cases, IncidentStore(engine), Path(args.out))
        finally:
            engine.dispose()
        print(f"{len(written)} replay cases written to {args.out}/" + "".join(f"\n  {p.name}" for p in written))
        return 0
    try:
        cases = load_cases(Path(args.directory))
    except ReplayCaseError as exc:
        print(f"sitrep eval run: {exc}", file=sys.stderr)
        return 1
    analyst = build_analyst(settings)
    model = settings.sitrep_model if (settings.anthropic_api_key or settings.openai_api_key) else None
    try:
        report = await replay(cases, analyst, analyzer=f"model {model}" if model else "the rule-based analyzer")
    finally:
        await analyst.aclose()
    print(report.table())
    return 0


def _policy(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.policy.commands import check, lint

    if args.policy_command == "lint":
        return lint(Path(args.directory or settings.sitrep_policy_dir), out=sys.stdout)
    return check(args.action_json, policy_dir=Path(args.policy_dir or settings.sitrep_policy_dir),
                 out=sys.stdout, as_json=args.json)


def _serve(settings: Settings, *, host: str, port: int, worker: bool) -> int:
    import uvicorn

    from bot.web import create_app

    if settings.slack_app_token is not None and settings.slack_bot_token is not None:
        from bot.slack.socket_mode import SocketModeStartError, check_app_token

        try:  # a wrong app token stops start-up here, in one line, not inside the server's lifespan
            asyncio.run(check_app_token(settings.slack_api_url, settings.slack_app_token.get_secret_value()))
        except SocketModeStartError as exc:
            print(f"sitrep serve: {exc}", file=sys.stderr)
            return 2
    uvicorn.run(create_app(settings, worker=worker), host=host, port=port, log_config=None,
                access_log=False, timeout_graceful_shutdown=30)
    return 0


def _demo(*, port: int, browser: bool, log_level: str = "WARNING") -> int:
    """The sandbox upstreams in a thread, Sitrep pointed at them, and the demo page; Ctrl-C stops.
    The terminal shows a banner and one line per step (``bot.sandbox.narrator``); log lines only
    from warnings up, unless ``LOG_LEVEL`` says otherwise."""
    import os
    import tempfile
    import webbrowser
    from pathlib import Path

    import uvicorn

    from bot.sandbox.demo import USER, build_demo_routes, demo_env
    from bot.sandbox.narrator import Narrator
    from bot.sandbox.server import FakeCloud
    from bot.sandbox.stories import all_stories
    from bot.settings import Settings
    from bot.web import create_app

    with tempfile.TemporaryDirectory(prefix="sitrep-demo-") as tmp, \
            FakeCloud(all_stories(), live=True) as cloud:
        cloud.sandbox.argocd.heals = True  # an approved rollback or restart fixes its scenario
        cloud.sandbox.kubernetes.heals = True
        env = demo_env(cloud, Path(tmp), model_key=os.environ.get("ANTHROPIC_API_KEY"))
        if os.environ.get("DATABASE_URL"):
            env["DATABASE_URL"] = os.environ["DATABASE_URL"]
        env["LOG_LEVEL"] = log_level  # a process the demo starts is as quiet as this one
        settings = Settings(_env_file=None, port=port,  # type: ignore[call-arg]
                            **{key.lower(): value for key, value in env.items()})
        url = f"http://127.0.0.1:{port}"
        demo = build_demo_routes(cloud, sitrep_url=url, signing_secret=env["SLACK_SIGNING_SECRET"])
        app = create_app(settings, worker_env=env, worker_cwd=Path(tmp),  # no .env read by the worker
                         extra_routes=demo)
        cloud.subscribe_slack_events(f"{url}/slack/events", env["SLACK_SIGNING_SECRET"])
        with Narrator(settings.database_url, url=url, users={USER: "sre-ana"}):  # the banner, then the steps
            if browser:
                webbrowser.open(f"{url}/demo")
            uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                        timeout_graceful_shutdown=10)
    return 0


async def _worker(settings: Settings, *, parent_pid: int | None = None) -> int:
    """Run the worker until SIGINT/SIGTERM (or, with ``parent_pid``, until that process is gone),
    then let running jobs finish."""
    import signal

    from bot.runtime import open_runtime

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_runtime(settings, worker=True, socket_mode=False):
        if parent_pid is None:
            await stop.wait()
        else:
            await _until_stopped_or_orphaned(stop, parent_pid)
    return 0


async def _until_stopped_or_orphaned(stop: asyncio.Event, parent_pid: int) -> None:
    import os

    import structlog

    while os.getppid() == parent_pid:
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
            return
        except TimeoutError:
            pass
    structlog.get_logger(__name__).warning("worker_parent_gone", parent_pid=parent_pid)


async def _investigate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.analyst.factory import build_analyst
    from bot.collectors.factory import build_collectors
    from bot.digest.redact import Redactor
    from bot.markdown import render_brief_markdown
    from bot.models import InvestigationRequest, SourceStatus
    from bot.service.investigate import Investigator

    request = InvestigationRequest.for_last(
        args.service, since=args.since, message=args.message, namespace=args.namespace
    )
    analyst = build_analyst(settings)
    try:
        async with build_collectors(settings) as collectors:
            investigator = Investigator(
                collectors=collectors.collectors,
                analyst=analyst,
                source_budget=settings.sitrep_source_timeout,
                total_budget=settings.sitrep_collect_timeout,
                redactor=Redactor(extra_secrets=settings.secret_values()),
            )
            brief = await investigator.investigate(request)
    finally:
        await analyst.aclose()
    if args.json:
        print(brief.model_dump_json(indent=2))
    else:
        print(render_brief_markdown(brief))
    missing = [name for name, status in brief.analysis.sources.items() if status is SourceStatus.SKIPPED]
    if missing:
        print("\nNot configured — set these to let Sitrep look there:", file=sys.stderr)
        for name in missing:
            print(f"  {name}: {SOURCE_HINTS.get(name, name.upper() + '_URL')}", file=sys.stderr)
    if settings.anthropic_api_key is None and settings.openai_api_key is None:
        print("  model: ANTHROPIC_API_KEY=<key> (or OPENAI_API_KEY + OPENAI_BASE_URL) for an AI brief",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
