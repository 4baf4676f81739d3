"""Benchmark: 50,000 log lines with 40 distinct error templates hidden in noise → a digest within
6,000 tokens in under a second, keeping every error template. Lines come in six formats (JSON,
logfmt, Spring Boot, Python logging, klog, zerolog), each with its own timestamp, thread, pid or
request id: one message in every format must still be one template. Prints its figures; exit 0.

    python bench/digest.py
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.digest.logs import LogEntry, mine_templates, render_templates  # noqa: E402

LINES = 50_000
ERROR_TEMPLATES = 40
TOKEN_BUDGET = 6_000

NOISE = [
    "GET /api/cart/{n} 200 {ms}ms user={hex}",
    "cache hit key=session:{hex} ttl={n}s",
    "processed batch {n} of {m} in {ms}ms",
    "heartbeat from worker-{n} lag={ms}ms",
    "POST /api/checkout 201 {ms}ms order={uuid}",
    "connected to redis 10.0.{n}.{m}:6379 pool={n}",
    "span {hex} finished in {ms}ms",
    "metrics flushed: {n} series in {ms}ms",
]
VOCAB = ("pool timeout refused reset broken handshake certificate expired quota exceeded deadline "
         "decode marshal schema mismatch lock contention deadlock replica lag partition leader election "
         "checksum corrupt segment index missing shard offline throttled rejected unauthorized forbidden "
         "token revoked session evicted memory pressure oom killed disk full inode exhausted socket "
         "closed stream aborted grpc unavailable dns resolution failed upstream overflow queue saturated "
         "retry budget spent circuit open fallback failed migration pending constraint violated cursor "
         "invalid payload truncated header malformed gzip panic nil pointer dereference").split()


def fill(template: str, rng: random.Random) -> str:
    return template.format(n=rng.randint(1, 999), m=rng.randint(1, 999), ms=rng.randint(1, 9000),
                           hex=f"{rng.getrandbits(64):016x}", uuid=f"{rng.getrandbits(128):032x}"[:8] + "-1111-2222-3333-"
                           + f"{rng.getrandbits(48):012x}", svc="{svc}")


def formatted(message: str, level: str, at: datetime, rng: random.Random) -> str:
    """``message`` as one of six services would log it."""
    request = f"{rng.getrandbits(128):032x}"
    iso = at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    upper = level.upper()
    match rng.randrange(6):
        case 0:
            return json.dumps({"ts": iso, "level": level, "msg": message, "request_id": request})
        case 1:
            return f'ts={iso} level={level} caller=api/handler.go:{rng.randint(10, 400)} msg="{message}" request_id={request}'
        case 2:
            return (f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d} {upper:>5} 1 --- "
                    f"[nio-8080-exec-{rng.randint(1, 200)}] c.e.shop.api.Handler           : {message}")
        case 3:
            return f"{at:%Y-%m-%d %H:%M:%S},{at.microsecond // 1000:03d} - shop.api - {upper} - {message}"
        case 4:
            return f"{upper[0]}{at:%m%d %H:%M:%S}.{at.microsecond:06d}       {rng.randint(1, 99)} handler.go:{rng.randint(10, 400)}] {message}"
        case _:
            return f"{iso} {upper[:3] if level != 'error' else 'ERR'} {message} request_id={request}"


def main() -> int:
    rng = random.Random(7)
    # 40 error messages that share few words with each other: distinct templates, as in real code
    errors = [" ".join(rng.sample(VOCAB, rng.randint(5, 9))) + " after {ms}ms (attempt {n})"
              for _ in range(ERROR_TEMPLATES)]
    start = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    entries = []
    for i in range(LINES):
        at = start + timedelta(milliseconds=i * 36)
        if i % 100 == 0:
            template, level = errors[(i // 100) % ERROR_TEMPLATES], "error"
        else:
            template, level = NOISE[rng.randrange(len(NOISE))], "info"
        line = formatted(fill(template, rng), level, at, rng)
        entries.append(LogEntry(at=at, line=line, level=level, evidence_id=f"logs-{i + 1}"))
    began = time.perf_counter()
    templates = mine_templates(entries, since=start + timedelta(minutes=15))
    digest = render_templates(templates, token_budget=TOKEN_BUDGET)
    seconds = time.perf_counter() - began
    kept_errors = sum(1 for t in digest.kept if t.is_error)
    total_errors = sum(1 for t in templates if t.is_error)
    rows = [
        ("tokens", f"{digest.tokens:,}", f"≤ {TOKEN_BUDGET:,}", digest.tokens <= TOKEN_BUDGET),
        ("seconds", f"{seconds:.3f}", "< 1", seconds < 1.0),
        ("error templates kept", f"{kept_errors}/{ERROR_TEMPLATES} (mined {total_errors})", "all",
         kept_errors == ERROR_TEMPLATES and total_errors == ERROR_TEMPLATES),
    ]
    print(f"digest of {LINES:,} lines: {len(templates)} templates mined, {len(digest.kept)} kept, "
          f"{digest.dropped} dropped")
    for name, figure, target, ok in rows:
        print(f"  {name:<22} {figure:<28} target {target:<8} {'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
