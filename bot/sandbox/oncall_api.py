"""Fake PagerDuty and Opsgenie: who is on call now for a schedule, shaped like their REST APIs.

    PagerDuty  GET /schedules/{id}/users?since=…&until=…   Authorization: Token token=<key>
               → {"users": [{"id", "type": "user", "summary", "email", "name", "html_url"}]}
               unknown schedule → 404 {"error": {"message": "Not Found", "code": 2100}}
               GET /abilities → {"abilities": [...]} (any valid key; a token check)
    Opsgenie   GET /v2/schedules/{id}/on-calls?flat=true    Authorization: GenieKey <key>
               → {"data": {"_parent": {"id", "name", "enabled"}, "onCallRecipients": [emails]},
                  "took": 0.1, "requestId": "…"}
               unknown schedule → 404 {"message": "Schedule not found", "took": …, "requestId": …}
               GET /v2/account → {"data": {"name", "userCount", "plan"}, …} (a key check)

``rotas`` (schedule id → emails) is set by tests through ``POST /_control/oncall``.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.faults import Fault, FaultBoard, FakeUpstream


class FakePagerDuty(FakeUpstream):
    name = "pagerduty"

    def __init__(self, *, token: str, board: FaultBoard | None = None) -> None:
        super().__init__(board=board)
        self.token = token
        self.rotas: dict[str, list[str]] = {}

    def reset(self) -> None:
        super().reset()
        self.rotas.clear()

    def routes(self) -> list[BaseRoute]:
        return [Route("/schedules/{schedule_id}/users", self.users), Route("/abilities", self.abilities)]

    def error_response(self, fault: Fault) -> Response:
        return JSONResponse({"error": {"message": fault.message or "Internal Server Error", "code": 2000}},
                            status_code=fault.status or 500)

    def _denied(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Token token={self.token}":
            return JSONResponse({"error": {"message": "Unauthorized", "code": 2006}}, status_code=401)
        return None

    async def abilities(self, request: Request) -> Response:
        self.record(request)
        return self._denied(request) or JSONResponse({"abilities": ["teams", "read_only_users", "sso"]})

    async def users(self, request: Request) -> Response:
        self.record(request)
        if denied := self._denied(request):
            return denied
        emails = self.rotas.get(request.path_params["schedule_id"])
        if emails is None:
            return JSONResponse({"error": {"message": "Not Found", "code": 2100}}, status_code=404)
        return JSONResponse({"users": [
            {"id": f"PU{i:05d}", "type": "user", "summary": email.split("@")[0], "name": email.split("@")[0],
             "email": email, "html_url": f"https://example.pagerduty.com/users/PU{i:05d}"}
            for i, email in enumerate(emails)]})


class FakeOpsgenie(FakeUpstream):
    name = "opsgenie"

    def __init__(self, *, token: str, board: FaultBoard | None = None) -> None:
        super().__init__(board=board)
        self.token = token
        self.rotas: dict[str, list[str]] = {}

    def reset(self) -> None:
        super().reset()
        self.rotas.clear()

    def routes(self) -> list[BaseRoute]:
        return [Route("/v2/schedules/{schedule_id}/on-calls", self.on_calls), Route("/v2/account", self.account)]

    def error_response(self, fault: Fault) -> Response:
        return JSONResponse({"message": fault.message or "Internal Server Error", "took": 0.0,
                             "requestId": str(uuid.uuid4())}, status_code=fault.status or 500)

    async def account(self, request: Request) -> Response:
        self.record(request)
        meta: dict[str, Any] = {"took": 0.004, "requestId": str(uuid.uuid4())}
        if request.headers.get("authorization") != f"GenieKey {self.token}":
            return JSONResponse({"message": "Could not authenticate", **meta}, status_code=401)
        return JSONResponse({"data": {"name": "sitrep-sandbox", "userCount": 5,
                                      "plan": {"maxUserCount": 25, "name": "Standard", "isYearly": False}},
                             **meta})

    async def on_calls(self, request: Request) -> Response:
        self.record(request)
        meta: dict[str, Any] = {"took": 0.012, "requestId": str(uuid.uuid4())}
        if request.headers.get("authorization") != f"GenieKey {self.token}":
            return JSONResponse({"message": "Could not authenticate", **meta}, status_code=401)
        schedule = request.path_params["schedule_id"]
        emails = self.rotas.get(schedule)
        if emails is None:
            return JSONResponse({"message": "Schedule not found", **meta}, status_code=404)
        return JSONResponse({"data": {"_parent": {"id": schedule, "name": schedule, "enabled": True},
                                      "onCallRecipients": list(emails)}, **meta})
