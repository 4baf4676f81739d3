"""The database during an outage: locked by another writer (SQLite) or briefly unreachable
(PostgreSQL behind a connection we cut). Webhooks answer 503 + Retry-After while nothing can be stored
(so Alertmanager delivers again), /readyz says so, and once the database is back the same delivery is
stored exactly once. Nothing accepted is lost."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import func, select, text

from bot.sandbox.server import FakeCloud
from bot.store.db import make_engine
from bot.store.tables import AlertRow
from tests.e2e.test_alerts import alert_env, alertmanager_body, post_webhook  # noqa: F401  (alert_env is a fixture)
from tests.support import run_sitrep, wait_for

pytestmark = pytest.mark.timeout(120)
POSTGRES_URL = os.environ.get("SITREP_TEST_POSTGRES_URL")


class CuttableProxy:
    """A TCP proxy to ``target``; ``cut()`` drops every connection and refuses new ones until
    ``restore()`` — the database "briefly unreachable" as a network blip makes it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open = True
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()  # each socket is the source of exactly one pipe

    def cut(self) -> None:
        self._open = False
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            except OSError:
                pass

    def restore(self) -> None:
        self._open = True

    def close(self) -> None:
        self.cut()
        self._listener.close()


@pytest.fixture
def postgres_via_proxy() -> Iterator[tuple[str, str, CuttableProxy]]:
    """(URL through the proxy, direct URL, proxy) of a fresh database."""
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must test PostgreSQL: .ci/run sets SITREP_TEST_POSTGRES_URL")
        pytest.skip("no PostgreSQL (set SITREP_TEST_POSTGRES_URL)")
    name = f"sitrep_f_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    direct = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    parts = urlsplit(direct)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    netloc = (f"{parts.username}@" if parts.username else "") + f"127.0.0.1:{proxy.port}"
    try:
        yield urlunsplit(parts._replace(netloc=netloc)), direct, proxy
    finally:
        proxy.close()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def stored_alerts(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(AlertRow)).scalar_one())
    finally:
        engine.dispose()


def test_postgresql_briefly_unreachable_answers_503_then_stores_the_redelivery_once(
    fake_cloud: FakeCloud, alert_env: dict[str, str], workdir: Path,
    postgres_via_proxy: tuple[str, str, CuttableProxy],
) -> None:
    via_proxy, direct, proxy = postgres_via_proxy
    body = alertmanager_body(fake_cloud)
    with run_sitrep({**alert_env, "DATABASE_URL": via_proxy}, workdir=workdir, args=("--no-worker",)) as sitrep:
        proxy.cut()
        answer = post_webhook(sitrep, body)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert "retry" in answer.json()["error"]
        assert httpx.get(f"{sitrep.url}/readyz", timeout=10).status_code == 503
        assert "database_unavailable" in sitrep.logs() and direct not in sitrep.logs()

        proxy.restore()  # Alertmanager delivers the same notification again
        wait_for(lambda: httpx.get(f"{sitrep.url}/readyz", timeout=10).status_code == 200,
                 timeout=20, what="/readyz after the database came back")
        assert post_webhook(sitrep, body).status_code == 202
        assert post_webhook(sitrep, body).status_code == 202  # and once more: a duplicate
    assert stored_alerts(direct) == 2  # both deliveries recorded, the second as a duplicate of the first
    assert sitrep.proc.returncode == 0


def test_sqlite_locked_by_another_writer_waits_then_stores(
    fake_cloud: FakeCloud, alert_env: dict[str, str], workdir: Path,
) -> None:
    db = workdir / "locked.db"
    with run_sitrep({**alert_env, "DATABASE_URL": f"sqlite:///{db}"}, workdir=workdir,
                    args=("--no-worker",)) as sitrep:
        blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock…
        released = threading.Timer(2.0, lambda: blocker.execute("COMMIT"))
        released.start()
        started = time.monotonic()
        answer = post_webhook(sitrep, alertmanager_body(fake_cloud))  # …for 2 s: Sitrep waits it out
        released.join()
        blocker.close()
        assert answer.status_code == 202, answer.text
        assert time.monotonic() - started >= 1.5
    assert stored_alerts(f"sqlite:///{db}") == 1
