"""What a Sitrep process runs, built once from the settings and closed in reverse order.

``open_runtime`` builds the database, upstream clients, analyst, policy, Bolt app (when Slack is
configured), scheduler and, unless told otherwise, the worker that claims jobs from the queue.
``sitrep serve`` wraps it in the HTTP app's lifespan; ``sitrep worker`` runs it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.collectors.factory import CollectorSet, build_collectors
from bot.digest.redact import Redactor
from bot.executor.dispatch import build_executors
from bot.models import TimelineEventType
from bot.policy.engine import replica_ceiling
from bot.policy.loader import PolicyError, PolicyHolder
from bot.intake.accept import AlertIntake, IntakeLimits
from bot.intake.graph import EdgeStore
from bot.service.alerts import AlertService, RequestLimits
from bot.service.worker import JobHandler, Worker
from bot.collectors.names import NameRule
from bot.service.execution import ActionRunner
from bot.service.proposals import ExecutionOutcome, ProposalView
from bot.service.remediation import RemediationService
from bot.service.container import Services
from bot.service.facts import LiveTargetFacts, ReplicaLookup
from bot.service.verify import Verifier
from bot.service.feedback import FeedbackService
from bot.service.incidents import IncidentCommands, IncidentQueries
from bot.service.postmortem import PostmortemService
from bot.service.tasks import BackgroundTasks
from bot.settings import Settings
from bot.slack.app import SlackNotConfiguredError, create_bolt_app
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentStore
from bot.store.proposals import ProposalStore
from bot.store.queue import JobQueue

if TYPE_CHECKING:  # Bolt and the Slack SDK are imported when Slack is configured (bot.slack.app)
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp

    from bot.analyst.chain import Analyst
    from bot.service.investigate import Investigator
    from bot.service.jobs import IncidentThreads
    from bot.slack.pacing import SlackWait

log = structlog.get_logger(__name__)

#: how long shutdown waits for investigations in flight
DRAIN_SECONDS = 25.0


class PolicyWatcher:
    """Reload the policy when a file changes or on SIGHUP; a broken edit keeps the last good
    policy, and says so in the logs and in /readyz."""

    def __init__(self, holder: PolicyHolder) -> None:
        self._holder = holder
        self._stamp = self._files_stamp()

    def _files_stamp(self) -> tuple[tuple[str, float], ...]:
        directory = self._holder.directory
        return tuple(sorted((p.name, p.stat().st_mtime) for p in directory.glob("*.y*ml") if p.is_file()))

    def check(self) -> None:
        stamp = self._files_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            self.reload()

    def reload(self) -> None:
        error = self._holder.reload()
        if error is None:
            log.info("policy_reloaded", directory=str(self._holder.directory))
        else:
            log.error("policy_reload_failed_keeping_last_good",
                      problems=[str(p) for p in error.problems])


@dataclass
class Runtime:
    """What the lifespan built; kept on ``app.state.runtime``."""

    store: IncidentStore
    services: Services
    policy: PolicyHolder | None = None
    policy_problem: str | None = None
    bolt: AsyncApp | None = None
    worker: Worker | None = None
    slack_handler: AsyncSlackRequestHandler | None = None
    slack_problem: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class PolicyRefusedError(RuntimeError):
    """A policy file is broken at start-up: Sitrep refuses to start rather than run unguarded."""


def load_policy_at_startup(settings: Settings) -> tuple[PolicyHolder | None, str | None]:
    """The policy in force, or why there is none. A missing folder turns remediation off (every
    action is shown, nothing can run); a broken file stops start-up with the problems."""
    directory = Path(settings.sitrep_policy_dir)
    if not directory.is_dir():
        return None, f"no policy folder at {directory}: remediation is off (set SITREP_POLICY_DIR)"
    try:
        return PolicyHolder(directory), None
    except PolicyError as exc:
        problems = "\n".join(str(p) for p in exc.problems)
        raise PolicyRefusedError(f"refusing to start: broken policy in {directory}:\n{problems}") from exc


def build_services(
    settings: Settings,
    *,
    store: IncidentStore,
    collectors: CollectorSet,
    analyst: Analyst | None,
    policy: PolicyHolder | None = None,
    runner: ActionRunner | None = None,
    replicas: ReplicaLookup | None = None,
    scheduler: AsyncIOScheduler | None = None,
    alerts: AlertService | None = None,
    edges: EdgeStore | None = None,
) -> tuple[Services, Verifier]:
    tasks = BackgroundTasks()
    verifier = Verifier(collectors=collectors.collectors, incidents=store,
                        delays=settings.sitrep_verify_delays)
    remediation = None
    if policy is not None and runner is not None:
        remediation = RemediationService(
            proposals=ProposalStore(store.engine), incidents=store, policy=policy, runner=runner,
            facts=LiveTargetFacts(collectors=collectors.collectors, replicas=replicas),
            dry_run=settings.sitrep_dry_run,
            suspend_auto_sync=settings.sitrep_argocd_suspend_auto_sync,
        )

        async def verify_after(view: ProposalView, result: ExecutionOutcome) -> None:
            if result.ok and not result.dry_run:
                later = [p.action for p in await remediation.for_incident(view.incident_id)
                         if p.id != view.id and p.decision.executable]
                kwargs = {"incident_id": view.incident_id, "proposal_id": view.id, "action": view.action,
                          "next_options": later}
                if scheduler is not None:  # an APScheduler job: re-checks at SITREP_VERIFY_DELAYS
                    scheduler.add_job(verifier.run, "date", kwargs=kwargs, id=f"verify-{view.id}",
                                      replace_existing=True)
                else:
                    tasks.spawn(verifier.run(**kwargs), name=f"verify:{view.id}")

        remediation.on_executed = verify_after
    investigator = None
    if analyst is not None:  # only a process that investigates (runs the worker) builds the investigator
        investigator = _investigator(settings, store=store, collectors=collectors, analyst=analyst, policy=policy,
                                     remediation=remediation, edges=edges)
    services = Services(
        investigator=investigator,
        tasks=tasks,
        queries=IncidentQueries(store),
        postmortems=PostmortemService(store),
        feedback=FeedbackService(store),
        remediation=remediation,
        alerts=alerts,
        incidents=IncidentCommands(store, owners_of=lambda service: (
            policy.policy.services[service].owners if policy is not None and service in policy.policy.services
            else ())),
        default_window=timedelta(minutes=30),
        default_namespace=None,
    )
    return services, verifier


def _investigator(settings: Settings, *, store: IncidentStore, collectors: CollectorSet, analyst: Analyst,
                  policy: PolicyHolder | None, remediation: RemediationService | None,
                  edges: EdgeStore | None) -> Investigator:
    from bot.service.investigate import Investigator

    return Investigator(
        collectors=collectors.collectors,
        analyst=analyst,
        source_budget=settings.sitrep_source_timeout,
        total_budget=settings.sitrep_collect_timeout,
        store=store,
        remediation=remediation,
        redactor=Redactor(extra_secrets=settings.secret_values()),
        on_traces=edges.learn_from if edges is not None else None,
        known_services=(lambda: policy.policy.services) if policy is not None else None,
        callees=(lambda service: edges.graph().callees(service)) if edges is not None else None,
        namespace_for=(lambda service: getattr(policy.policy.services.get(service), "namespace", None))
        if policy is not None else None,
        names=NameRule(settings.sitrep_name_pattern),
    )


def intake_limits(settings: Settings) -> IntakeLimits:
    return IntakeLimits(
        group_window=timedelta(seconds=settings.sitrep_group_window_seconds),
        group_wait=timedelta(seconds=settings.sitrep_group_wait_seconds),
        group_labels=tuple(settings.sitrep_group_labels),
        investigations_per_hour=settings.sitrep_service_investigations_per_hour,
        max_attempts=settings.sitrep_job_max_attempts,
        refire_after=timedelta(seconds=settings.sitrep_refire_after_seconds),
    )


def channel_for(settings: Settings, policy: PolicyHolder | None) -> Callable[[str], str | None]:
    """Where an incident without a Slack message of its own is posted: the service catalog's
    channel, else the first alert channel."""

    def lookup(service: str) -> str | None:
        spec = policy.policy.services.get(service) if policy is not None else None
        if spec is not None and spec.channel:
            return spec.channel
        return settings.sitrep_alert_channels[0] if settings.sitrep_alert_channels else None

    return lookup


def slack_wait_recorder(store: IncidentStore) -> Callable[[SlackWait], Awaitable[None]]:
    """Record a Slack call's 429 wait on its incident's timeline: the incident of the job that made
    the call, else the one whose root or brief message it was about."""

    async def record(wait: SlackWait) -> None:
        incident_id = wait.incident_id
        if incident_id is None and wait.channel:
            timestamps = [ts for ts in (wait.thread_ts, wait.ts) if ts]
            incident_id = await asyncio.to_thread(store.incident_for_message, wait.channel, timestamps)
        if incident_id is None:
            return
        await asyncio.to_thread(store.add_event, incident_id, TimelineEventType.SLACK_RATE_LIMITED, data={
            "method": wait.method, "channel": wait.channel, "retry_after_s": round(wait.retry_after_s, 3)})

    return record


@asynccontextmanager
async def open_runtime(settings: Settings, *, worker: bool = True, socket_mode: bool = True,
                       periodic: bool = True) -> AsyncIterator[Runtime]:
    """Everything a process runs; closed in reverse order on exit (running jobs get
    ``DRAIN_SECONDS`` to finish, then their leases expire and another worker takes them).
    ``periodic=False`` leaves the periodic jobs that one process of a pair runs (proposal expiry,
    the Jaeger call graph) to ``sitrep serve``'s worker process (``bot.worker_process``)."""
    policy, policy_problem = load_policy_at_startup(settings)
    if policy_problem:
        log.warning("policy_not_loaded", reason=policy_problem)
    engine = make_engine(settings.database_url)
    await asyncio.to_thread(create_schema, engine)
    store = IncidentStore(engine)
    collectors = build_collectors(settings)
    executors = build_executors(settings)
    analyst = None
    if worker:  # the analyst, the investigator and the prompt, digest and model code they load: only where
        # investigations run (``sitrep worker``, serve's worker process), not in serve's web process
        from bot.analyst.factory import build_analyst

        analyst = build_analyst(settings, replica_ceiling=(
            (lambda service, current: replica_ceiling(policy.policy, service, current)) if policy is not None
            else None))
    scheduler = AsyncIOScheduler(timezone="UTC")
    queue = JobQueue(engine, lease=timedelta(seconds=settings.sitrep_job_lease_seconds))
    edges = EdgeStore(engine)
    intake = AlertIntake(engine, queue, limits=intake_limits(settings), graph=edges.graph)
    alerts = AlertService(intake, alert_channels=settings.sitrep_alert_channels,
                          known_services=lambda: tuple(policy.policy.services) if policy else (),
                          service_label=settings.sitrep_service_label,
                          high_water=settings.sitrep_queue_high_water,
                          redactor=Redactor(extra_secrets=settings.secret_values()),
                          request_limits=RequestLimits(
                              per_user=settings.sitrep_incident_per_user,
                              per_channel=settings.sitrep_incident_per_channel,
                              window=timedelta(minutes=settings.sitrep_incident_window_minutes)))
    services, verifier = build_services(
        settings, store=store, collectors=collectors, analyst=analyst, policy=policy,
        runner=executors, replicas=executors.current_replicas, scheduler=scheduler, alerts=alerts,
        edges=edges,
    )
    runtime = Runtime(store=store, services=services, policy=policy, policy_problem=policy_problem)
    socket_handler = None
    worker_task: asyncio.Task[None] | None = None
    try:
        runtime.bolt = create_bolt_app(settings, services)
        if settings.slack_signing_secret is not None:
            from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

            runtime.slack_handler = AsyncSlackRequestHandler(runtime.bolt)
        else:  # nothing to verify an HTTP request against: Slack reaches this process over the socket only
            runtime.slack_problem = ("HTTP mode is off (no SLACK_SIGNING_SECRET): Slack reaches Sitrep "
                                     "over Socket Mode")
    except SlackNotConfiguredError as exc:
        runtime.slack_problem = str(exc)
        log.warning("slack_not_configured", reason=str(exc))
    if runtime.bolt is not None:
        from bot.slack.notifier import SlackThreadNotifier
        from bot.slack.pacing import PacedWebClient

        if isinstance(runtime.bolt.client, PacedWebClient):  # a 429 wait goes on the incident's timeline
            runtime.bolt.client.on_wait = slack_wait_recorder(store)
        notifier = SlackThreadNotifier(runtime.bolt.client, services)
        verifier.notifier = notifier
        if periodic:
            scheduler.add_job(notifier.expire_due, "interval", seconds=settings.sitrep_expiry_sweep_seconds,
                              id="expire-proposals", max_instances=1, coalesce=True)
    if worker:
        from bot.service.jobs import NoThreads

        threads: IncidentThreads = NoThreads()
        if runtime.bolt is not None:
            from bot.slack.threads import SlackIncidentThreads

            threads = SlackIncidentThreads(runtime.bolt.client, channel_for=channel_for(settings, policy))
        runtime.worker = Worker(
            queue,
            _job_handlers(services, store=store, threads=threads),
            concurrency=settings.sitrep_max_investigations,
            lease=timedelta(seconds=settings.sitrep_job_lease_seconds),
        )
        worker_task = asyncio.create_task(runtime.worker.run(), name="worker")
        if analyst is not None:  # the model SDKs load beside the claiming worker, not before it
            services.tasks.spawn(analyst.load_sdks(), name="preload-model-sdks")
    if collectors.jaeger_dependencies is not None and periodic:  # the call graph grouping uses, refreshed from Jaeger
        scheduler.add_job(edges.refresh_from, "interval", args=[collectors.jaeger_dependencies], minutes=5,
                          id="jaeger-dependencies", max_instances=1, coalesce=True,
                          next_run_time=datetime.now(timezone.utc))
    if policy is not None:
        watcher = PolicyWatcher(policy)
        scheduler.add_job(watcher.check, "interval", seconds=2, id="policy-watch", max_instances=1,
                          coalesce=True)
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off the main thread
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, watcher.reload)
    scheduler.start()
    if socket_mode and runtime.bolt is not None and settings.slack_app_token is not None:
        from bot.slack.socket_mode import socket_mode_handler

        socket_handler = socket_mode_handler(runtime.bolt, settings.slack_app_token.get_secret_value(),
                                             ping_interval=settings.sitrep_socket_ping_seconds)
        await socket_handler.connect_async()
        log.info("socket_mode_connected")
    log.info("sitrep_started", port=settings.port, worker=worker, slack=runtime.bolt is not None,
             socket_mode=socket_handler is not None, policy=policy is not None,
             dry_run=settings.sitrep_dry_run)
    try:
        yield runtime
    finally:
        scheduler.shutdown(wait=False)
        if runtime.worker is not None:
            await runtime.worker.stop(timeout=DRAIN_SECONDS)
            await asyncio.gather(worker_task, return_exceptions=True)
        await services.tasks.drain(timeout=DRAIN_SECONDS)
        if socket_handler is not None:
            await socket_handler.close_async()
        await collectors.aclose()
        await executors.aclose()
        if analyst is not None:
            await analyst.aclose()
        alerts.close()
        engine.dispose()
        log.info("sitrep_stopped")


def _job_handlers(services: Services, *, store: IncidentStore, threads: IncidentThreads) -> dict[str, JobHandler]:
    from bot.service.jobs import DeltaJob, InvestigateJob, SayJob

    assert services.investigator is not None  # built with the analyst, as every worker is
    investigate = InvestigateJob(investigator=services.investigator, store=store, threads=threads,
                                 default_window=services.default_window)
    return {
        "investigate": investigate,
        "delta": DeltaJob(investigator=services.investigator, store=store, threads=threads, investigate=investigate),
        "say": SayJob(store=store, threads=threads),
    }
