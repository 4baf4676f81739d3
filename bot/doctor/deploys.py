"""ArgoCD and Kubernetes: who Sitrep is there and what it may do.

- ArgoCD: ``/api/version``; ``/api/v1/session/userinfo`` (a bad token answers ``loggedIn: false``, HTTP 200);
  ``/api/v1/account/can-i/applications/get/*/*`` (RBAC objects are ``<project>/<app>``: ``*/*`` is every
  app; when that says no, the policy's apps are read one by one, for project-scoped RBAC); the apps with
  automated sync are noted, because ArgoCD refuses a rollback while it is on.
- Kubernetes: ``/version``; in each namespace the policy names, a SelfSubjectAccessReview for what the
  executor and the collector do: ``patch`` deployments (rollout restart) and deployments/scale, ``list``
  events.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import httpx

from bot.doctor.base import Context, Section, http_reason, json_body, listed, plural
from bot.executor.kubernetes import IN_CLUSTER_URL, SERVICE_ACCOUNT_DIR, ServiceAccountAuth

GENERATE_TOKEN = ("create a local account with the apiKey capability (argocd-cm: accounts.sitrep: apiKey) and "
                  "run `argocd account generate-token --account sitrep`; put the token in ARGOCD_TOKEN")


async def check_argocd(ctx: Context, section: Section) -> None:
    settings = ctx.settings
    if not settings.argocd_url:
        section.skipped("set ARGOCD_URL=https://argocd.example.com and ARGOCD_TOKEN=<token>")
        return
    section.url = settings.argocd_url
    token = settings.argocd_token.get_secret_value() if settings.argocd_token else ""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with ctx.client(settings.argocd_url, headers=headers) as client:
        step = section.step("version")
        response = await step.get(client, "/api/version")
        version = json_body(response) if response.is_success else None
        if not isinstance(version, dict):
            step.fail(f"ArgoCD answered {http_reason(response)}",
                      fix="check ARGOCD_URL: the server's base URL (the UI's address), without /api")
            return
        step.ok(f"ArgoCD {version.get('Version', '(version not said)')}")

        step = section.step("token")
        if not token:
            step.fail("ARGOCD_TOKEN is not set: every API call would be refused", fix=GENERATE_TOKEN)
            return
        response = await step.get(client, "/api/v1/session/userinfo")
        info = json_body(response) if response.is_success else None
        if not isinstance(info, dict) or not info.get("loggedIn"):
            why = "userinfo says loggedIn: false" if isinstance(info, dict) else http_reason(response)
            step.fail(f"ArgoCD does not accept ARGOCD_TOKEN ({why}): expired, revoked, or from another ArgoCD",
                      fix=GENERATE_TOKEN)
            return
        account = str(info.get("username") or "?")
        step.ok(f"logged in as {account}" + (f" (issuer {info['iss']})" if info.get("iss") else ""))

        if await _permissions(ctx, section, client, account=account):
            await _applications(ctx, section, client)


async def _can_i(step: Any, client: httpx.AsyncClient, action: str, obj: str = "*/*") -> bool | None:
    response = await step.get(client, f"/api/v1/account/can-i/applications/{action}/{obj}")
    body = json_body(response) if response.is_success else None
    if not isinstance(body, dict) or body.get("value") not in ("yes", "no"):
        return None
    return bool(body["value"] == "yes")


async def _permissions(ctx: Context, section: Section, client: httpx.AsyncClient, *, account: str) -> bool:
    """Whether ``account`` may read the applications Sitrep needs."""
    step = section.step("applications, get")
    read, sync = await asyncio.gather(_can_i(step, client, "get"), _can_i(step, client, "sync"))
    sync_note = {True: "; sync (to run rollbacks and syncs): yes",
                 False: "; sync: no — rollbacks and syncs would be refused (fine while Sitrep only reads)",
                 None: ""}[sync]
    if read:
        step.ok(f"{account} may read every application{sync_note}")
        return True
    apps = _policy_apps(ctx)
    readable: list[str] = []
    for app in apps:  # project-scoped RBAC: */* says no, yet the apps Sitrep needs may be readable
        response = await step.get(client, f"/api/v1/applications/{app}")
        if response.is_success:
            readable.append(app)
    if apps and len(readable) == len(apps):
        step.ok(f"{account} may read the policy's applications ({listed(apps)}){sync_note}")
        return True
    said = "can-i says no" if read is False else "can-i did not answer yes or no"
    step.fail(f"{account} may not get applications ({said}): Sitrep cannot read deploy history",
              fix=f"in argocd-rbac-cm, give {account} read access, e.g. `p, {account}, applications, get, */*, "
                  f"allow` (or `g, {account}, role:readonly`)")
    return False


def _policy_apps(ctx: Context) -> list[str]:
    if ctx.policy is None:
        return []
    return [spec.app_for(name) for name, spec in ctx.policy.services.items()]


async def _applications(ctx: Context, section: Section, client: httpx.AsyncClient) -> None:
    step = section.step("applications")
    response = await step.get(client, "/api/v1/applications")
    body = json_body(response) if response.is_success else None
    if not isinstance(body, dict):
        step.fail(f"listing applications failed: {http_reason(response)}", fix="check ARGOCD_TOKEN's RBAC")
        return
    apps: dict[str, dict[str, Any]] = {}
    for item in body.get("items") or []:
        if isinstance(item, dict) and isinstance(item.get("metadata"), dict):
            apps[str(item["metadata"].get("name"))] = item
    wanted = _policy_apps(ctx) or sorted(apps)
    missing = [a for a in wanted if a not in apps]
    automated = [a for a in wanted if a in apps and ((apps[a].get("spec") or {}).get("syncPolicy") or {})
                 .get("automated")]
    detail = f"{plural(len(apps), 'application')} visible"
    if missing:
        detail += f"; not found (the policy names them): {listed(missing)}"
    if automated:
        if ctx.settings.sitrep_argocd_suspend_auto_sync:
            detail += (f"; auto-sync on for {listed(automated)}: Sitrep turns it off before a rollback "
                       "(SITREP_ARGOCD_SUSPEND_AUTO_SYNC=true)")
        else:
            detail += (f"; auto-sync on for {listed(automated)}: ArgoCD refuses a rollback of those while it is "
                       "on — set SITREP_ARGOCD_SUSPEND_AUTO_SYNC=true to let Sitrep turn it off first")
    step.ok(detail)


# ---------------------------------------------------------------------------- Kubernetes

#: (verb, group, resource, subresource, what needs it)
ACCESS = (
    ("patch", "apps", "deployments", "", "rollout restart"),
    ("patch", "apps", "deployments", "scale", "scale"),
    ("list", "", "events", "", "reading Warning events"),
)


def kubernetes_client(ctx: Context, *, service_account_dir: Path = SERVICE_ACCOUNT_DIR
                      ) -> tuple[httpx.AsyncClient | None, str]:
    """A client as the executor and collector make it, and how it authenticates (for the report)."""
    settings = ctx.settings
    if settings.kubernetes_api_url:
        token = settings.kubernetes_token.get_secret_value() if settings.kubernetes_token else ""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        how = "KUBERNETES_TOKEN" if token else "no token (KUBERNETES_TOKEN unset): anonymous"
        return ctx.client(settings.kubernetes_api_url, headers=headers), how
    token_file = service_account_dir / "token"
    if not token_file.is_file():
        return None, ""
    ca = service_account_dir / "ca.crt"
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca.is_file() else True
    return ctx.client(IN_CLUSTER_URL, auth=ServiceAccountAuth(token_file), verify=verify), \
        "the pod's service account"


async def check_kubernetes(ctx: Context, section: Section, *, service_account_dir: Path = SERVICE_ACCOUNT_DIR
                           ) -> None:
    client, how = kubernetes_client(ctx, service_account_dir=service_account_dir)
    if client is None:
        section.skipped("set KUBERNETES_API_URL=https://kubernetes.default.svc and KUBERNETES_TOKEN=<token> "
                        "(or run Sitrep in the cluster)")
        return
    section.url = str(client.base_url)
    section.url_setting = "KUBERNETES_API_URL" if ctx.settings.kubernetes_api_url else "the in-cluster API"
    async with client:
        step = section.step("version")
        response = await step.get(client, "/version")
        if response.status_code in (401, 403):
            step.fail(f"the API server refused {how} ({http_reason(response)})",
                      fix="set KUBERNETES_TOKEN to a valid service-account token "
                          "(`kubectl create token sitrep -n <namespace>`)")
            return
        version = json_body(response) if response.is_success else None
        if not isinstance(version, dict):
            step.fail(f"the API server answered {http_reason(response)}", fix="check KUBERNETES_API_URL")
            return
        step.ok(f"Kubernetes {version.get('gitVersion', '?')}, as {how}")
        for namespace in ctx.policy_namespaces():
            await _access(section, client, namespace)


async def _access(section: Section, client: httpx.AsyncClient, namespace: str) -> None:
    step = section.step(f"permissions in {namespace}")

    async def review(verb: str, group: str, resource: str, subresource: str) -> bool | None:
        attributes = {"namespace": namespace, "verb": verb, "group": group, "resource": resource}
        if subresource:
            attributes["subresource"] = subresource
        shown = f"{verb} {resource}{'/' + subresource if subresource else ''}"
        response = await step.post(client, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json={
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes}}, note=f" ({shown})")
        body = json_body(response) if response.is_success else None
        status = body.get("status") if isinstance(body, dict) else None
        return bool(status.get("allowed")) if isinstance(status, dict) else None

    answers = await asyncio.gather(*(review(verb, group, resource, sub) for verb, group, resource, sub, _ in ACCESS))
    denied = [f"{verb} {resource}{'/' + sub if sub else ''} ({why})"
              for (verb, _, resource, sub, why), allowed in zip(ACCESS, answers, strict=True) if not allowed]
    if not denied:
        step.ok("may " + ", ".join(f"{v} {r}{'/' + s if s else ''}" for v, _, r, s, _ in ACCESS))
        return
    unknown = any(a is None for a in answers)
    step.fail(f"may not {listed(denied)}" + (" (some reviews got no answer)" if unknown else ""),
              fix=f"apply deploy/kubernetes/role.yaml and rolebinding.yaml in namespace {namespace} (apps: "
                  "deployments and deployments/scale, verbs get and patch), and allow `list` on events "
                  "(apiGroups [\"\"]) for the Kubernetes source")
