"""The OpenAPI document of ``sitrep serve``'s HTTP face, served at ``GET /openapi.json``.

Written out, not generated from handlers: the webhooks read their raw body themselves (what they
cannot parse is kept as a dead letter, so no framework validates it first), and the REST API checks
its own token, cursor and limit. The webhook bodies' schemas come from the models that parse them.

    tests/test_openapi.py         this document names exactly the app's routes and methods
    tests/security/test_fuzz.py   the running server answers every generated request with a status
                                  (and, for the REST API, a body) this document gives
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

#: ``GET /api/v1/incidents``: the largest page, and the default
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
#: ``POST /slack/events``: Slack's events, commands and interactivity payloads are a few kB; a view
#: submission stays far below
SLACK_BODY_MAX_BYTES = 1_000_000

Schema = dict[str, Any]

ERROR: Schema = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> Schema:
    return _json(ERROR, description)


def _object(properties: Schema) -> Schema:
    """An object with these properties, every one of them present."""
    return {"type": "object", "properties": properties, "required": list(properties)}


def inline(model: type[BaseModel]) -> Schema:
    """The model's JSON schema with every ``$ref`` replaced by its target (the webhook models have no
    cycles), so the document needs no shared components."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        return [resolve(value) for value in node] if isinstance(node, list) else node
    return resolve(schema)  # type: ignore[no-any-return]


INCIDENT: Schema = _object({
    "id": {"type": "integer"}, "service": {"type": "string"}, "status": {"type": "string"},
    "severity": NULLABLE_STRING, "opened_at": {"type": "string", "format": "date-time"},
    "slack": _object({"channel": NULLABLE_STRING, "ts": NULLABLE_STRING}),
})
INCIDENT_IN_FULL: Schema = _object({
    **INCIDENT["properties"],
    "alerts": {"type": "array", "items": _object({
        "id": {"type": "integer"}, "source": {"type": "string"}, "origin": {"type": "string"},
        "name": {"type": "string"}, "service": NULLABLE_STRING, "namespace": NULLABLE_STRING,
        "severity": NULLABLE_STRING, "state": {"type": "string"}, "outcome": {"type": "string"},
        "starts_at": NULLABLE_STRING, "received_at": {"type": "string"},
        "links": {"type": "object", "additionalProperties": {"type": "string"}},
    })},
    "brief": {"type": ["object", "null"]},  # the Brief of design.md, as stored
    "proposals": {"type": "array", "items": _object({
        "id": {"type": "integer"}, "action": {"type": "object"}, "decision": {"type": "object"},
        "state": {"type": "string"},
    })},
})
TIMELINE: Schema = _object({"items": {"type": "array", "items": _object({
    "at": {"type": "string", "format": "date-time"}, "type": {"type": "string"}, "actor": {"type": "string"},
    "data": {},
})}})
ACCEPTED: Schema = _object({
    "alerts": {"type": "integer", "minimum": 0},
    "incidents": {"type": "array", "items": {"type": "integer"}},
    "outcomes": {"type": "array", "items": {"type": "string"}},
})

API_ANSWERS: Schema = {
    "401": _error("missing or wrong bearer token (SITREP_API_TOKEN)"),
    "503": _error("the API is off (no SITREP_API_TOKEN) or the database is unavailable"),
}
INCIDENT_ID: Schema = {"name": "incident_id", "in": "path", "required": True, "schema": {"type": "string"},
                       "description": "the incident's number (anything else: 404)"}


def _webhook(model: type[BaseModel], summary: str) -> Schema:
    return {"post": {
        "summary": summary,
        "security": [{"webhookToken": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": inline(model)}}},
        "responses": {
            "202": _json(ACCEPTED, "stored: the alerts, the incidents they joined, what became of each"),
            "400": _error("unreadable body (kept as a dead letter)"),
            "401": _error("missing or wrong bearer token (SITREP_WEBHOOK_TOKEN)"),
            "413": _error("body over SITREP_WEBHOOK_MAX_BYTES (kept as a dead letter)"),
            "429": _error("backlog full: retry after Retry-After seconds"),
            "503": _error("webhooks off (no SITREP_WEBHOOK_TOKEN), or the database unavailable: retry"),
        },
    }}


@cache
def document() -> Schema:
    """The document (built on its first request: the web process does not need it to answer others)."""
    from bot.intake.webhooks import AlertmanagerMessage, GrafanaMessage

    return {
        "openapi": "3.1.0",
        "info": {"title": "Sitrep", "version": "1",
                 "description": "Alert webhooks, the REST API, health and metrics of `sitrep serve`."},
        "components": {"securitySchemes": {
            "webhookToken": {"type": "http", "scheme": "bearer", "description": "SITREP_WEBHOOK_TOKEN"},
            "apiToken": {"type": "http", "scheme": "bearer", "description": "SITREP_API_TOKEN"},
            "metricsToken": {"type": "http", "scheme": "bearer",
                             "description": "SITREP_METRICS_TOKEN (when set)"},
        }},
        "paths": {
            "/slack/events": {"post": {
                "summary": "Slack's Events API, slash commands and interactivity (signed by Slack)",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": {"description": "handled (Bolt's answer)"},
                    "401": {"description": "signature or timestamp wrong (Bolt)"},
                    "413": _error(f"body missing its length or over {SLACK_BODY_MAX_BYTES} bytes"),
                    "503": _error("HTTP mode off (Slack not configured, or Socket Mode only), "
                                  "or the database unavailable"),
                },
            }},
            "/healthz": {"get": {"summary": "the process answers", "responses": {
                "200": _json(_object({"status": {"const": "ok"}}), "alive")}}},
            "/readyz": {"get": {"summary": "ready to take alerts: database reachable and migrated", "responses": {
                "200": _json(_object({"status": {"const": "ready"}, "database": {"type": "string"},
                                      "slack": {"type": "string"}, "worker": {"type": "string"},
                                      "policy": {"type": "string"}}), "ready"),
                "503": _json(_object({"status": {"const": "unavailable"}, "database": {"type": "string"}}),
                             "the database is unreachable or its migrations are not applied"),
            }}},
            "/metrics": {"get": {
                "summary": "Prometheus exposition", "security": [{"metricsToken": []}, {}],
                "responses": {
                    "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "401": {"description": "SITREP_METRICS_TOKEN is set and the bearer token is not it",
                            "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "503": _error("the database is unavailable"),
                }}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {
                "200": _json({"type": "object"}, "the OpenAPI document")}}},
            "/alerts/alertmanager": _webhook(AlertmanagerMessage, "Alertmanager webhook (version 4)"),
            "/alerts/grafana": _webhook(GrafanaMessage, "Grafana unified-alerting webhook"),
            "/api/v1/incidents": {"get": {
                "summary": "incidents, newest first, a page at a time",
                "security": [{"apiToken": []}],
                "parameters": [
                    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
                     "description": "next_cursor of the previous page"},
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                "default": DEFAULT_LIMIT}},
                ],
                "responses": {
                    "200": _json(_object({"items": {"type": "array", "items": INCIDENT},
                                          "next_cursor": NULLABLE_STRING}), "a page of incidents"),
                    "400": _error(f"a cursor that no page gave, or a limit outside 1–{MAX_LIMIT}"),
                    **API_ANSWERS,
                }}},
            "/api/v1/incidents/{incident_id}": {"get": {
                "summary": "one incident: its alerts, latest brief and proposed actions",
                "security": [{"apiToken": []}], "parameters": [INCIDENT_ID],
                "responses": {"200": _json(INCIDENT_IN_FULL, "the incident"),
                              "404": _error("no such incident"), **API_ANSWERS}}},
            "/api/v1/incidents/{incident_id}/timeline": {"get": {
                "summary": "the incident's timeline, oldest first",
                "security": [{"apiToken": []}], "parameters": [INCIDENT_ID],
                "responses": {"200": _json(TIMELINE, "the timeline"),
                              "404": _error("no such incident"), **API_ANSWERS}}},
        },
    }
