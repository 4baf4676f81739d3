"""Start-up pays only for what it uses: importing the web app loads no model SDK, no matplotlib and
no drain3 (seconds on a small machine, paid by every restarted pod and taken-over worker), and
``sitrep --help`` answers before settings, logging or the web stack are imported."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import subprocess_env

#: each costs from 0.1 s (drain3) to 1.5 s (anthropic) to import; loaded when first needed
HEAVY = ("anthropic", "openai", "matplotlib", "drain3")


def loaded_after(code: str, *candidates: str) -> list[str]:
    """Which of ``candidates`` a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {list(candidates)!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], env=subprocess_env(), capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_web_app_and_an_analyst_without_a_key_load_no_model_sdk_matplotlib_or_drain3() -> None:
    code = ("import bot.web\nfrom bot.settings import Settings\nfrom bot.analyst.factory import build_analyst\n"
            "assert build_analyst(Settings(_env_file=None)).primary is None")
    assert loaded_after(code, *HEAVY) == []


def test_help_imports_neither_settings_nor_the_web_stack() -> None:
    code = ("import sys\nfrom bot.cli import main\nsys.argv = ['sitrep', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass")
    assert loaded_after(code, "pydantic", "structlog", "starlette", "sqlalchemy", *HEAVY) == []


def test_the_web_app_leaves_the_analyst_the_digest_and_an_unused_database_dialect_unloaded() -> None:
    """The web process never investigates (its worker process does): the analyst, the investigator, the
    prompt, the log formats and templating load only where investigations run; with SQLite the
    PostgreSQL dialect never loads."""
    unused = ("bot.analyst.chain", "bot.service.investigate", "bot.analyst.prompt", "bot.digest.logformat",
              "bot.digest.logs", "sqlalchemy.dialects.postgresql")
    assert loaded_after("import bot.web", *unused) == []


def test_the_domain_models_validate_as_before_when_first_used() -> None:
    code = ("import bot.web\nfrom bot.models import Alert, Evidence, EvidenceSource\n"
            "assert not Evidence.__pydantic_complete__\n"
            "e = Evidence.model_validate({'id': 'logs-1', 'source': 'logs', 'detail': 'boom'})\n"
            "assert e.source is EvidenceSource.LOGS and Evidence.__pydantic_complete__")
    assert loaded_after(code) == []


def test_a_worker_with_model_keys_builds_its_analyst_without_importing_the_sdks() -> None:
    """A real deployment has a key: building the analyst must not make the worker wait seconds for the
    SDKs before it claims jobs (they load on the first call, or beside the running worker)."""
    code = ("from pydantic import SecretStr\nfrom bot.settings import Settings\n"
            "from bot.analyst.factory import build_analyst\n"
            "s = Settings(_env_file=None, anthropic_api_key=SecretStr('sk-ant-FAKE'), "
            "openai_base_url='http://127.0.0.1:9/v1', sitrep_fallback_model='llama3')\n"
            "a = build_analyst(s)\nassert a.primary is not None and a.fallback is not None")
    assert loaded_after(code, "anthropic", "openai", "httpx2") == []


async def test_preloading_imports_exactly_the_sdks_of_the_configured_clients() -> None:
    code = ("import asyncio\nfrom pydantic import SecretStr\nfrom bot.settings import Settings\n"
            "from bot.analyst.factory import build_analyst\n"
            "a = build_analyst(Settings(_env_file=None, anthropic_api_key=SecretStr('sk-ant-FAKE')))\n"
            "asyncio.run(a.load_sdks())")
    assert loaded_after(code, "anthropic", "openai") == ["anthropic"]
