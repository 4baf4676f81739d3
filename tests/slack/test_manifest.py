"""manifest.yml stays true to the code: the Web API methods ``bot/`` calls and the events it listens to
are derived from the source, mapped to the bot scopes Slack's docs require, and the manifest must grant
those scopes, subscribe those events, declare the slash command, turn interactivity and the Home tab on,
and point every request URL at ``POST /slack/events`` — as the README's set-up section says.

A scope the manifest grants that nothing needs must be explained in ``GRANTED_BEYOND_THE_CODE``.
"""

from __future__ import annotations

import ast
import copy
import inspect
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifest.yml"
#: the fakes of bot/sandbox answer Slack's methods; they do not call them
NOT_SITREP = ("sandbox",)

#: bot scopes each Web API method needs, from each method's page on docs.slack.dev ("Scopes" / the
#: scope's "Compatible API methods"). Where the scope depends on the kind of conversation, both public
#: (channels:*) and private (groups:*) channels are needed: alert channels may be either. Sitrep never
#: reads DMs (im:*, mpim:*). An empty tuple: no scope (auth.test, views.*, chat.getPermalink).
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.getPermalink": (),
    "reactions.add": ("reactions:write",),
    "conversations.info": ("channels:read", "groups:read"),
    "conversations.members": ("channels:read", "groups:read"),
    "conversations.replies": ("channels:history", "groups:history"),
    "conversations.history": ("channels:history", "groups:history"),
    "users.info": ("users:read",),
    # "Requires users:read.email"; Slack grants it only together with users:read
    "users.lookupByEmail": ("users:read", "users:read.email"),
    "usergroups.list": ("usergroups:read",),
    "usergroups.users.list": ("usergroups:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "views.open": (),
    "views.push": (),
    "views.update": (),
    "views.publish": (),
    # called with the app-level token (Socket Mode): connections:write on that token, no bot scope
    "apps.connections.open": (),
}

#: what a Bolt ``app.event(type)`` listener needs subscribed (Sitrep reads alert messages in public and
#: private channels, not DMs), and the scope each subscription needs (docs.slack.dev/reference/events)
EVENT_SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "message": ("message.channels", "message.groups"),
    "app_home_opened": ("app_home_opened",),
}
SUBSCRIPTION_SCOPES: dict[str, tuple[str, ...]] = {
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
    "app_home_opened": (),
}

#: scopes granted for what no method call shows, and why
GRANTED_BEYOND_THE_CODE: dict[str, str] = {
    "chat:write.public": "chat.postMessage into a public channel the bot was not invited to "
                         "(a service's channel in the policy catalog); Slack requires chat:write with it",
    "metadata.message:read": "reading back the sitrep_brief message metadata Sitrep posts (design.md: "
                             "other tools and Sitrep after a restart find briefs by it); no code reads it yet",
}


# ---------------------------------------------------------------------------- what the code uses


@cache
def sdk_methods() -> dict[str, frozenset[str]]:
    """``AsyncWebClient`` method name → the Web API methods it calls (``files_upload_v2`` calls two)."""
    tree = ast.parse(inspect.getsource(AsyncWebClient))
    direct: dict[str, set[str]] = {}
    inner: dict[str, set[str]] = {}
    for node in tree.body[0].body:  # type: ignore[attr-defined]
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        direct[node.name], inner[node.name] = set(), set()
        for sub in ast.walk(node):
            if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute)
                    and isinstance(sub.func.value, ast.Name) and sub.func.value.id == "self"):
                if sub.func.attr == "api_call" and sub.args and isinstance(sub.args[0], ast.Constant):
                    direct[node.name].add(str(sub.args[0].value))
                else:
                    inner[node.name].add(sub.func.attr)

    def resolve(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        found = set(direct.get(name, ()))
        for other in inner.get(name, set()) - seen:
            found |= resolve(other, seen | {name})
        return found

    return {name: frozenset(found) for name in direct if not name.startswith("_") and (found := resolve(name))}


def sitrep_sources() -> list[Path]:
    return [p for p in sorted((ROOT / "bot").rglob("*.py"))
            if not set(p.relative_to(ROOT / "bot").parts) & set(NOT_SITREP)]


@cache
def sitrep_methods() -> dict[str, set[str]]:
    """The Web API methods ``bot/`` calls (read once per test run)."""
    return web_api_methods(sitrep_sources())


def web_api_methods(paths: list[Path]) -> dict[str, set[str]]:
    """Each Web API method called in ``paths`` → where: ``client.chat_postMessage(...)``,
    ``api_call("x")``, and a method name given to any call or joined onto a URL (``post("auth.test")``,
    ``url + "/apps.connections.open"``: plain HTTP clients that talk to Slack)."""
    by_attr = sdk_methods()
    known = set().union(*by_attr.values()) | set(METHOD_SCOPES)
    used: dict[str, set[str]] = {}
    for path in paths:
        where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
        tree = ast.parse(path.read_text(), filename=where)
        for node in ast.walk(tree):
            names: set[str] = set()
            if isinstance(node, ast.Call):
                if isinstance(node.func, ast.Attribute) and node.func.attr in by_attr:
                    names |= by_attr[node.func.attr]
                names |= {_method_in(arg) for arg in node.args if isinstance(arg, ast.Constant)}
            elif isinstance(node, ast.BinOp | ast.JoinedStr):
                parts = [node.left, node.right] if isinstance(node, ast.BinOp) else node.values
                names |= {_method_in(part) for part in parts if isinstance(part, ast.Constant)}
            for name in names & known:
                used.setdefault(name, set()).add(f"{where}:{getattr(node, 'lineno', '?')}")
    return used


def _method_in(node: ast.Constant) -> str:
    return str(node.value).rsplit("/", 1)[-1] if isinstance(node.value, str) else ""


def bolt_listeners() -> dict[str, set[str]]:
    """``event`` types, ``command`` names and whether ``action``/``view``/``shortcut``/``options``
    listeners exist, from ``app.<kind>(...)`` calls in the listeners."""
    found: dict[str, set[str]] = {"event": set(), "command": set(), "interactive": set()}
    for path in sorted((ROOT / "bot" / "slack").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "app"):
                continue
            kind, first = node.func.attr, node.args[0] if node.args else None
            value = first.value if isinstance(first, ast.Constant) else None
            if kind == "message":
                found["event"].add("message")
            elif kind == "event" and isinstance(value, str):
                found["event"].add(value)
            elif kind == "event":
                raise AssertionError(f"{path}: app.event with a non-literal type; list it in this test")
            elif kind == "command" and isinstance(value, str):
                found["command"].add(value)
            elif kind in ("action", "view", "shortcut", "options", "block_action", "view_submission"):
                found["interactive"].add(kind)
    return found


def required_scopes(methods: dict[str, set[str]], events: set[str]) -> dict[str, str]:
    """Scope → why (the first method or event that needs it)."""
    why: dict[str, str] = {}
    for method in sorted(methods):
        for scope in METHOD_SCOPES[method]:
            why.setdefault(scope, f"{method} ({sorted(methods[method])[0]})")
    for event in sorted(events):
        for subscription in EVENT_SUBSCRIPTIONS[event]:
            for scope in SUBSCRIPTION_SCOPES[subscription]:
                why.setdefault(scope, f"the {subscription} event")
    return why


# ---------------------------------------------------------------------------- the check


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """What ``manifest`` fails to grant, subscribe or declare for the code as it is; [] when true."""
    methods = sitrep_methods()
    listeners = bolt_listeners()
    problems: list[str] = []
    scopes = set(manifest.get("oauth_config", {}).get("scopes", {}).get("bot") or [])
    needed = required_scopes(methods, listeners["event"])
    if listeners["command"]:
        needed.setdefault("commands", f"the slash command {sorted(listeners['command'])[0]}")
    problems += [f"bot scope {scope} is not granted; {why} needs it"
                 for scope, why in sorted(needed.items()) if scope not in scopes]
    problems += [f"bot scope {scope} is granted but nothing needs it (explain it in GRANTED_BEYOND_THE_CODE)"
                 for scope in sorted(scopes - set(needed) - set(GRANTED_BEYOND_THE_CODE))]

    settings = manifest.get("settings", {})
    subscribed = set(settings.get("event_subscriptions", {}).get("bot_events") or [])
    wanted = {s for event in listeners["event"] for s in EVENT_SUBSCRIPTIONS[event]}
    problems += [f"event {s} is not subscribed (a listener needs it)" for s in sorted(wanted - subscribed)]
    problems += [f"event {s} is subscribed but nothing listens to it" for s in sorted(subscribed - wanted)]

    features = manifest.get("features", {})
    declared = {c.get("command"): c for c in features.get("slash_commands") or []}
    problems += [f"slash command {c} is not declared" for c in sorted(listeners["command"] - set(declared))]
    problems += [f"slash command {c} is declared but not handled" for c in sorted(set(declared) - listeners["command"])]
    if listeners["interactive"] and not settings.get("interactivity", {}).get("is_enabled"):
        problems.append("interactivity is off, but buttons and modals have listeners")
    if "app_home_opened" in listeners["event"] and not features.get("app_home", {}).get("home_tab_enabled"):
        problems.append("the Home tab is off, but app_home_opened publishes it")
    if not features.get("bot_user"):
        problems.append("no bot user: chat.postMessage needs one")

    socket_mode = settings.get("socket_mode_enabled")
    if not isinstance(socket_mode, bool):
        problems.append("settings.socket_mode_enabled must be true or false")
    elif not socket_mode:  # HTTP mode: Slack's one URL, as bot/web.py serves it
        urls = {"the slash command": [c.get("url") for c in declared.values()],
                "event subscriptions": [settings.get("event_subscriptions", {}).get("request_url")],
                "interactivity": [settings.get("interactivity", {}).get("request_url")]}
        problems += [f"{what}' URL {url!r} is not https://…/slack/events"
                     for what, values in urls.items() for url in values
                     if not (isinstance(url, str) and url.startswith("https://") and url.endswith("/slack/events"))]
    return problems


def load_manifest() -> dict[str, Any]:
    return dict(yaml.safe_load(MANIFEST.read_text()))


# ---------------------------------------------------------------------------- tests


def test_the_manifest_grants_what_the_code_uses() -> None:
    assert manifest_problems(load_manifest()) == []


def test_every_method_the_code_calls_has_its_scopes_in_the_table() -> None:
    methods = sitrep_methods()
    assert {"chat.postMessage", "chat.update", "reactions.add", "files.completeUploadExternal",
            "users.lookupByEmail", "views.open"} <= set(methods)  # the derivation sees the usual paths
    unknown = {m: sorted(where) for m, where in methods.items() if m not in METHOD_SCOPES}
    assert unknown == {}, "look each one up on docs.slack.dev and add its bot scopes to METHOD_SCOPES"


def test_the_listeners_are_seen() -> None:
    listeners = bolt_listeners()
    assert listeners["event"] == {"message", "app_home_opened"}
    assert listeners["command"] == {"/incident"}
    assert listeners["interactive"] == {"action", "view"}


def test_the_derivation_finds_sdk_calls_api_calls_and_plain_http(tmp_path: Path) -> None:
    module = tmp_path / "mod.py"
    module.write_text(
        "async def f(client, http, url):\n"
        "    await client.files_upload_v2(channel='C1', content=b'x', filename='f')\n"
        "    await client.api_call('pins.add', json={})\n"
        "    await http.post('conversations.members')\n"
        "    await http.post(url + '/bookmarks.add')\n"
        "    log.info('chat.postMessage is only mentioned here')\n")
    found = set(web_api_methods([module]))
    assert found >= {"files.getUploadURLExternal", "files.completeUploadExternal", "pins.add",
                     "conversations.members", "bookmarks.add"}


#: the manifest's bot scopes that the code needs (the test above checks that the manifest holds exactly
#: those and the few granted beyond the code): read from the file, not from the code, so that collecting
#: the suite does not parse every module of bot/ in each test process
NEEDED_BY_THE_MANIFEST = sorted(set(load_manifest()["oauth_config"]["scopes"]["bot"]) - set(GRANTED_BEYOND_THE_CODE))


@pytest.mark.parametrize("scope", NEEDED_BY_THE_MANIFEST)
def test_removing_a_needed_scope_is_caught(scope: str) -> None:
    manifest = copy.deepcopy(load_manifest())
    manifest["oauth_config"]["scopes"]["bot"].remove(scope)
    assert any(p.startswith(f"bot scope {scope} is not granted") for p in manifest_problems(manifest))


def test_removing_an_event_or_interactivity_is_caught() -> None:
    manifest = copy.deepcopy(load_manifest())
    manifest["settings"]["event_subscriptions"]["bot_events"].remove("message.groups")
    manifest["settings"]["interactivity"]["is_enabled"] = False
    manifest["features"]["slash_commands"][0]["url"] = "https://sitrep.example.com/slack/commands"
    assert manifest_problems(manifest) == [
        "event message.groups is not subscribed (a listener needs it)",
        "interactivity is off, but buttons and modals have listeners",
        "the slash command' URL 'https://sitrep.example.com/slack/commands' is not https://…/slack/events",
    ]


def test_the_code_serves_the_manifests_url_and_socket_mode() -> None:
    from starlette.routing import Route

    from bot.settings import Settings
    from bot.web import create_app

    manifest = load_manifest()
    urls = (manifest["settings"]["event_subscriptions"]["request_url"],
            manifest["settings"]["interactivity"]["request_url"],
            *(command["url"] for command in manifest["features"]["slash_commands"]))
    paths = {urlsplit(url).path for url in urls}
    served = {route.path for route in create_app(Settings(_env_file=None), worker=False).routes
              if isinstance(route, Route) and "POST" in (route.methods or ())}
    assert paths == {"/slack/events"} and paths <= served

    assert "slack_app_token" in Settings.model_fields  # SLACK_APP_TOKEN turns Socket Mode on


def test_the_readme_walks_through_both_modes() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Create the Slack app", 1)[1].split("\n## ", 1)[0]
    for needed in ("manifest.yml", "/slack/events", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
                   "socket_mode_enabled", "connections:write", "SLACK_APP_TOKEN"):
        assert needed in section, f"README's 'Create the Slack app' does not mention {needed}"
