"""``sitrep demo``: Sitrep against the sandbox, with a Slack-like page at ``/demo``.

The page shows the demo channel (messages, threads, the Block Kit Sitrep posts), fires the built-in
scenarios (``bot.sandbox.stories``) as Alertmanager would post them, sends ``/incident`` as a slash command and button clicks as
Slack's interactivity payloads — all signed with the app's signing secret and sent to Sitrep's own
``/slack/events`` over HTTP, exactly as Slack would. It also lists what the sandbox ArgoCD and
Kubernetes were asked to do. Everything rendered is text (``textContent``), never HTML.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.scenario import Scenario
from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner

CHANNEL = "C0DEMO"
USER = "U0SRE1"  # sre-ana: in @sre, so she may approve what the demo policy asks approval for
POLICY = """\
# The demo's policy: one SRE approves a rollback or a restart; nothing runs by itself.
services:
  checkout: {tier: standard, namespace: shop, argocd_app: checkout, channel: C0DEMO, owners: ["@sre"]}
  cart: {tier: standard, namespace: shop, argocd_app: cart, channel: C0DEMO, owners: ["@sre"]}
  orders: {tier: standard, namespace: shop, argocd_app: orders, channel: C0DEMO, owners: ["@sre"]}
  payments: {tier: critical, namespace: shop, argocd_app: payments, channel: C0DEMO, owners: ["@sre"]}
  search: {tier: low, namespace: shop, argocd_app: search, channel: C0DEMO, owners: ["@sre"]}
rules:
  - name: rollbacks need one SRE
    action: rollback
    match: {tier: [standard, low]}
    decision: approve
    approvers: ["@sre"]
    expires_after: 15m
  - name: restarts need one SRE
    action: restart
    match: {tier: [standard, low]}
    decision: approve
    approvers: ["@sre"]
    expires_after: 15m
"""

#: the scenario buttons of the page: name → label
SCENARIOS = {
    "bad_deploy": "bad deploy (checkout)",
    "memory_leak": "memory leak (cart)",
    "dependency_failure": "dependency failure (orders → payments)",
    "false_alarm": "false alarm (search)",
}


def alertmanager_message(scenario: Scenario) -> dict[str, Any]:
    """What Alertmanager's default Slack template posts for the scenario's alert."""
    title = (f"[FIRING:1] {scenario.alert_name} (prod-eu1 {scenario.namespace} {scenario.service} "
             f"{scenario.severity})")
    return {"username": "Alertmanager", "channel": "#demo", "attachments": [{
        "title": title, "title_link": "http://alertmanager.sandbox:9093/#/alerts", "text": "",
        "fallback": title, "color": "danger" if scenario.severity == "critical" else "warning",
        "mrkdwn_in": ["fallback", "pretext", "text"]}]}


def demo_env(cloud: FakeCloud, workdir: Path, *, model_key: str | None) -> dict[str, str]:
    policies = workdir / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    (policies / "demo.yml").write_text(POLICY)
    env = cloud.env(ANTHROPIC_API_KEY=None, ANTHROPIC_BASE_URL=None)
    if model_key:  # the person's own key: the real model
        env["ANTHROPIC_API_KEY"] = model_key
    return {
        **env,
        "SITREP_ALERT_CHANNELS": CHANNEL,
        "SITREP_POLICY_DIR": str(policies),
        "SITREP_DRY_RUN": "false",  # the sandbox ArgoCD really rolls back
        "SITREP_ARGOCD_SUSPEND_AUTO_SYNC": "true",
        "SITREP_VERIFY_DELAYS": "5,15",
        "SITREP_GROUP_WAIT_SECONDS": "1",
        "DATABASE_URL": f"sqlite:///{workdir / 'sitrep-demo.db'}",
    }


Endpoint = Callable[[Request], Awaitable[Response]]


async def cross_site_refusal(request: Request) -> JSONResponse | None:
    """The demo's API spends the user's model key and acts as them: only the demo page itself may call
    it. A browser sends ``Origin`` with every cross-site POST (a form, a fetch from another page): it
    must be this server's; and a body must be JSON (a plain HTML form cannot send that)."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own:
        return JSONResponse({"error": f"cross-origin request refused (Origin {origin[:100]})"}, status_code=403)
    if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
        return JSONResponse({"error": "cross-site request refused"}, status_code=403)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json" and (content_type or await request.body()):
        return JSONResponse({"error": "the demo API takes application/json only"}, status_code=415)
    return None


def same_origin_json(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` behind ``cross_site_refusal``."""
    @wraps(endpoint)
    async def checked(request: Request) -> Response:
        return await cross_site_refusal(request) or await endpoint(request)
    return checked


def build_demo_routes(cloud: FakeCloud, *, sitrep_url: str, signing_secret: str) -> list[Route]:
    signer = SlackSigner(signing_secret, response_url_base=cloud.url)
    events = f"{sitrep_url}/slack/events"

    async def send(body: str) -> JSONResponse:
        response = await signer.send(events, body)
        text = response.text
        return JSONResponse({"status": response.status_code, "answer": text[:2000]})

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE.replace("/*SCENARIOS*/{}", json.dumps(SCENARIOS)).replace("/*USER*/", USER))

    async def state(request: Request) -> JSONResponse:
        async with httpx.AsyncClient(base_url=cloud.url, timeout=5) as client:
            messages = (await client.get("/slack/api/_messages", params={"channel": CHANNEL})).json()
            calls = (await client.get("/_control/slack/calls")).json()
            argocd = (await client.get("/_control/argocd/operations")).json()
            answer = await client.get("/kubernetes/_operations")
            kubernetes = answer.json() if answer.status_code == 200 else []
        private = [{"text": c.get("text") or "", "at": c.get("at")} for c in calls
                   if c.get("method") in {"response_url", "chat.postEphemeral"}]
        modals = [v for v in messages["views"] if v.get("type") != "home"]  # App Home is not a dialog
        return JSONResponse({"channel": CHANNEL, "user": USER, "messages": messages["messages"],
                             "views": modals, "private": private[-10:],
                             "actions": {"argocd": argocd, "kubernetes": kubernetes}})

    async def file(request: Request) -> Response:
        """A file shared in the channel (Sitrep's charts), from the sandbox Slack."""
        file_id: str = request.path_params["file_id"]
        async with httpx.AsyncClient(base_url=cloud.url, timeout=5) as client:
            answer = await client.get(f"/slack/api/_files/{quote(file_id, safe='')}")
        if answer.status_code != 200:
            return JSONResponse({"error": "no such file"}, status_code=404)
        return Response(answer.content, media_type=answer.headers.get("content-type", "application/octet-stream"))

    async def fire(request: Request) -> JSONResponse:
        body = await request.json() if await request.body() else {}
        name = str((body or {}).get("scenario") or "bad_deploy")
        scenario = next((s for s in cloud.sandbox.feed.all() if s.name == name), None)
        if scenario is None:
            return JSONResponse({"error": f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}"},
                                status_code=400)
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.post(cloud.incoming_webhook_url(CHANNEL), json=alertmanager_message(scenario))
        return JSONResponse({"status": response.status_code, "scenario": name})

    async def command(request: Request) -> JSONResponse:
        text = str((await request.json()).get("text", ""))[:500]
        if not text.startswith("/"):  # a person writing in the channel
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.post(cloud.incoming_webhook_url(CHANNEL),
                                             json={"username": "sre-ana", "text": text})
            return JSONResponse({"status": response.status_code, "answer": ""})
        if text.startswith("/incident"):
            text = text[len("/incident"):].strip()
        return await send(signer.slash_command_body(command="/incident", text=text, user_id=USER,
                                                    channel_id=CHANNEL))

    async def click(request: Request) -> JSONResponse:
        data = await request.json()
        payload = signer.block_actions_payload(
            action_id=str(data["action_id"]), value=str(data.get("value", "")), user_id=USER,
            channel_id=CHANNEL, message_ts=str(data["ts"]), thread_ts=data.get("thread_ts"),
            block_id=str(data.get("block_id", "")), text=str(data.get("text", "")))
        return await send(signer.interactivity_body(payload))

    async def submit(request: Request) -> JSONResponse:
        data = await request.json()
        view = data["view"]
        values = data.get("values") or {}
        payload = {"type": "view_submission", "team": {"id": signer.team_id}, "api_app_id": signer.api_app_id,
                   "user": {"id": USER, "username": "sre-ana", "name": "sre-ana", "team_id": signer.team_id},
                   "token": "sandbox-verification-token", "trigger_id": "demo",
                   "view": {**view, "state": {"values": values}}}
        return await send(signer.interactivity_body(payload))

    return [Route("/demo", page, methods=["GET"]), Route("/demo/api/state", state, methods=["GET"]),
            Route("/demo/api/files/{file_id}", file, methods=["GET"]),
            *(Route(f"/demo/api/{post.__name__}", same_origin_json(post), methods=["POST"])
              for post in (fire, command, click, submit))]


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sitrep demo — #demo</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;display:flex;height:100vh;color:#1d1c1d}
aside{width:260px;background:#3f0e40;color:#fff;padding:16px;overflow:auto}
aside button{display:block;width:100%;margin:6px 0;padding:8px;border:0;border-radius:6px;cursor:pointer}
main{flex:1;display:flex;flex-direction:column}
#log{flex:1;overflow:auto;padding:16px}
.msg{border-bottom:1px solid #eee;padding:8px 0}.who{font-weight:700}.thread{margin-left:32px;border-left:3px solid #ddd;padding-left:10px}
.header{font-size:1.15em;font-weight:700;margin:6px 0}.section,.context{margin:4px 0;white-space:pre-wrap}
.context{color:#616061;font-size:.85em}.fields{display:grid;grid-template-columns:1fr 1fr;gap:4px}
.actions button{margin:4px 6px 4px 0;padding:6px 12px;border:1px solid #bbb;border-radius:4px;background:#fff;cursor:pointer}
.actions button.primary{background:#007a5a;color:#fff}.actions button.danger{background:#e01e5a;color:#fff}
form{display:flex;padding:12px;border-top:1px solid #ddd}form input{flex:1;padding:8px}
#private{color:#616061;font-style:italic;padding:0 16px}
.ops{font-family:monospace;font-size:.8em;white-space:pre-wrap;word-break:break-all;background:#2c0a2d;padding:6px;border-radius:4px}
a{color:#1264a3}
img.chart{display:block;max-width:560px;width:100%;border:1px solid #ddd;border-radius:6px;margin:6px 0}
</style></head>
<body>
<aside><h3>Sitrep demo</h3><p>#demo · you are sre-ana (@sre)</p>
<div id="scenarios"></div>
<h4>Sent to the sandbox</h4><div id="ops" class="ops">nothing yet</div></aside>
<main><div id="log"></div><div id="private"></div>
<form id="cmd"><input id="text" value="/incident checkout p99 is 8s" aria-label="message"><button>Send</button></form></main>
<script>
"use strict";
const SCENARIOS = /*SCENARIOS*/{};
const ME = "/*USER*/";
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; return e; };
const decode = (t) => (t || "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const plain = (t) => decode((t || "").replace(/<(https?:[^|>]+)\|([^>]+)>/g, "$2").replace(/<(https?:[^>]+)>/g, "$1"));
const post = (url, body) => fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
  body: JSON.stringify(body || {})}).then(r => r.json());
function textOf(obj) { return obj ? plain(obj.text) : ""; }
function rawOf(obj) { return obj ? (obj.text || "") : ""; }
// mrkdwn's <url|label>, *bold* and `code` as elements whose content is text: nothing from data becomes
// markup, and a link's address is set as a property only when it is http(s)
function rich(tag, cls, raw) {
  const e = el(tag, cls);
  for (const piece of (raw || "").split(/(<https?:[^|>\s]+(?:\|[^>]+)?>|<@[UW][A-Z0-9]+>|\*[^*\n]+\*|`[^`\n]+`)/)) {
    const link = /^<(https?:[^|>\s]+)(?:\|([^>]+))?>$/.exec(piece);
    const mention = /^<@([UW][A-Z0-9]+)>$/.exec(piece);
    if (mention) e.append(el("b", "", "@" + (mention[1] === ME ? "sre-ana" : mention[1])));
    else if (link) { const a = el("a", "", decode(link[2] || link[1])); a.href = decode(link[1]);
      a.target = "_blank"; a.rel = "noopener noreferrer"; e.append(a); }
    else if (/^\*[^*]+\*$/.test(piece)) e.append(el("b", "", decode(piece.slice(1, -1))));
    else if (/^`[^`]+`$/.test(piece)) e.append(el("code", "", decode(piece.slice(1, -1))));
    else if (piece) e.append(document.createTextNode(decode(piece)));
  }
  return e;
}
function renderBlocks(msg, parent) {
  for (const b of (msg.blocks || [])) {
    if (b.type === "header") parent.append(el("div", "header", textOf(b.text)));
    else if (b.type === "section") {
      const s = rich("div", "section", rawOf(b.text));
      if (b.fields) { const f = el("div", "fields"); for (const x of b.fields) f.append(rich("div", "", rawOf(x))); s.append(f); }
      if (b.accessory && b.accessory.type === "button") { const a = el("div", "actions"); a.append(button(msg, b, b.accessory)); s.append(a); }
      parent.append(s);
    } else if (b.type === "context") { const c = el("div", "context");
      (b.elements || []).forEach((e, i) => { if (i) c.append(document.createTextNode("  ·  "));
        c.append(e.type === "image" ? el("span", "", "🖼 " + (e.alt_text || "")) : rich("span", "", rawOf(e))); });
      parent.append(c); }
    else if (b.type === "divider") parent.append(el("hr"));
    else if (b.type === "image") { const i = el("img"); i.src = b.image_url; i.alt = b.alt_text || ""; i.style.maxWidth = "480px"; parent.append(i); }
    else if (b.type === "actions") { const a = el("div", "actions"); for (const e of (b.elements || [])) if (e.type === "button") a.append(button(msg, b, e)); parent.append(a); }
  }
  if (!(msg.blocks || []).length) parent.append(rich("div", "section", msg.text));
  for (const f of (msg.files || [])) {
    if (f.mimetype === "image/png") { const i = el("img", "chart"); i.src = "/demo/api/files/" + encodeURIComponent(f.id);
      i.alt = f.title || f.name || ""; parent.append(i); }
    else parent.append(el("div", "context", "📎 " + (f.title || f.name || "file")));
  }
  for (const a of (msg.attachments || [])) parent.append(el("div", "section", plain(a.title || a.fallback || a.text)));
}
function button(msg, block, e) {
  const b = el("button", e.style || "", textOf(e.text));
  b.onclick = async () => {
    if (e.confirm && !window.confirm(textOf(e.confirm.title) + "\n\n" + textOf(e.confirm.text))) return;
    await post("/demo/api/click", {action_id: e.action_id, value: e.value, block_id: block.block_id,
      ts: msg.ts, thread_ts: msg.thread_ts, text: textOf(e.text)}); refresh();
  };
  return b;
}
let seenViews = 0;
async function refresh() {
  const s = await (await fetch("/demo/api/state")).json();
  const log = document.getElementById("log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;  // follow new messages, as Slack does
  log.replaceChildren();
  const roots = s.messages.filter(m => !m.thread_ts || m.thread_ts === m.ts);
  for (const m of roots) {
    const box = el("div", "msg"); box.append(el("div", "who", m.username || (m.bot_id === "B0SITREP" ? "Sitrep" : m.user || "someone")));
    renderBlocks(m, box);
    const replies = s.messages.filter(r => r.thread_ts === m.ts && r.ts !== m.ts);
    if (replies.length) { const t = el("div", "thread"); for (const r of replies) { const rb = el("div", "msg"); rb.append(el("div", "who", r.bot_id === "B0SITREP" ? "Sitrep" : (r.username || r.user || ""))); renderBlocks(r, rb); t.append(rb); } box.append(t); }
    log.append(box);
  }
  if (atBottom) log.scrollTop = log.scrollHeight;
  document.getElementById("private").textContent = s.private.length ? "Only visible to you: " + s.private[s.private.length - 1].text : "";
  const ops = [...s.actions.argocd.map(o => "ArgoCD " + o.op + " " + JSON.stringify(o.body || {})),
               ...s.actions.kubernetes.map(o => "Kubernetes " + JSON.stringify(o))];
  document.getElementById("ops").textContent = ops.length ? ops.join("\n") : "nothing yet";
  if (s.views.length > seenViews) { const v = s.views[s.views.length - 1]; seenViews = s.views.length;
    if (window.confirm((v.title ? textOf(v.title) : "Sitrep") + "\n\n" + (v.blocks || []).map(b => textOf(b.text)).join("\n"))) {
      await post("/demo/api/submit", {view: v, values: {}}); } }
}
for (const [name, label] of Object.entries(SCENARIOS)) {
  const b = el("button", "", "fire scenario: " + label); b.dataset.scenario = name;
  b.onclick = async () => { await post("/demo/api/fire", {scenario: name}); refresh(); };
  document.getElementById("scenarios").append(b);
}
document.getElementById("cmd").onsubmit = async (ev) => { ev.preventDefault();
  await post("/demo/api/command", {text: document.getElementById("text").value}); refresh(); };
refresh(); setInterval(refresh, 1500);
</script></body></html>
"""


def page_is_text_only() -> bool:
    """The page never assigns HTML from data (used by a test)."""
    return "innerHTML" not in PAGE and "insertAdjacentHTML" not in PAGE and "document.write" not in PAGE

