"""The demo's API (it spends the user's model key and acts as them) refuses cross-site posts."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from bot.sandbox.demo import build_demo_routes


class Feed:
    def all(self) -> list[object]:
        return []


class Sandbox:
    feed = Feed()


class Cloud:  # what the router reads before it calls anything
    url = "http://cloud.invalid"
    sandbox = Sandbox()


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = Starlette(routes=build_demo_routes(Cloud(), sitrep_url="http://sitrep.invalid",  # type: ignore[arg-type]
                                             signing_secret="s"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo.local")


@pytest.mark.parametrize("route", ["fire", "command", "click", "submit"])
async def test_a_cross_origin_post_is_refused(client: httpx.AsyncClient, route: str) -> None:
    async with client:
        evil = await client.post(f"/demo/api/{route}", json={"text": "/incident checkout"},
                                 headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403 and "cross-origin" in evil.text
        cross_site = await client.post(f"/demo/api/{route}", json={}, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross_site.status_code == 403
        form = await client.post(f"/demo/api/{route}", content=b"text=/incident+checkout",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "Origin": "http://demo.local"})
        assert form.status_code == 415


async def test_the_page_itself_gets_through(client: httpx.AsyncClient) -> None:
    async with client:
        answer = await client.post("/demo/api/fire", json={"scenario": "nope"},
                                   headers={"Origin": "http://demo.local", "Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 400 and "unknown scenario" in answer.text  # past the checks
