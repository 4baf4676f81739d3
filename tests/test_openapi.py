"""``GET /openapi.json`` is written out (``bot.openapi``): it must name exactly the routes the app
serves, with the methods they take, and describe the webhook bodies as the models that parse them.
(tests/security/test_fuzz.py holds the running server to the statuses it documents.)"""

from __future__ import annotations

import httpx
from starlette.routing import Route

from bot.intake.webhooks import AlertmanagerMessage
from bot.openapi import document, inline
from bot.settings import Settings
from bot.web import create_app

#: Starlette answers HEAD wherever GET is served; OpenAPI leaves HEAD implicit
IMPLICIT = {"HEAD"}


def served() -> set[tuple[str, str]]:
    app = create_app(Settings(_env_file=None), worker=False)
    return {(route.path, method.lower()) for route in app.routes if isinstance(route, Route)
            for method in (route.methods or set()) - IMPLICIT}


def test_the_document_names_every_route_and_method_the_app_serves_and_no_other() -> None:
    documented = {(path, method) for path, operations in document()["paths"].items() for method in operations}
    assert documented == served()


def test_every_operation_documents_its_answers_and_every_path_parameter() -> None:
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], f"{method} {path}"
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path


def test_a_webhook_body_is_the_model_that_parses_it_without_references() -> None:
    body = document()["paths"]["/alerts/alertmanager"]["post"]["requestBody"]["content"]["application/json"]
    schema = body["schema"]
    assert "$ref" not in repr(schema) and "$defs" not in schema
    assert set(schema["required"]) == set(AlertmanagerMessage.model_json_schema()["required"])
    assert schema["properties"]["alerts"]["items"]["properties"]["labels"]["type"] == "object"
    assert schema == inline(AlertmanagerMessage)


async def test_the_document_is_served() -> None:
    app = create_app(Settings(_env_file=None), worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sitrep") as client:
        answer = await client.get("/openapi.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json()["openapi"].startswith("3.1") and "/api/v1/incidents" in answer.json()["paths"]
