"""The one TLS context Sitrep's HTTP clients share in a process.

An ``httpx`` client made with ``verify=True`` builds a context of its own and loads the whole CA
bundle into it: about 45 ms of CPU on a small machine, paid by each of the nine clients a process
makes at start-up (collectors, executors) and by each on-call lookup. They share this one instead,
made as httpx makes it: ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` when set, else certifi's bundle. A
context is safe to share between connections; clients that need another trust (the in-cluster
service account's CA) still pass their own.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def trusted() -> ssl.SSLContext:
    """The verifying context for public and configured endpoints, built on first use."""
    return httpx.create_ssl_context()
