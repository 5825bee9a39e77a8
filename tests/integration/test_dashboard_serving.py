"""The dashboard served by the API process: ``/`` and ``/assets/`` from the built files in
``server/dashboard/`` (committed), the API's own routes untouched, the cache rules, and the
page's websocket accepted from its own origin without configuring ALLOWED_ORIGINS."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from support.live_server import TRANSPORT_WS, WAIT, Live, serve, settings_for
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin, Subprotocol

from server import spa
from server.db import Database

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def live(migrated_db: Database, redis_url: str, redis_prefix: str) -> AsyncIterator[Live]:
    async with serve(settings_for(migrated_db, redis_url, redis_prefix)) as running:
        yield running  # ALLOWED_ORIGINS unset


def asset_paths(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)


async def test_the_page_and_its_assets_are_served_with_their_cache_rules(live: Live) -> None:
    page = await live.http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"  # a new release shows at the next load
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = asset_paths(page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for path in assets:
        asset = await live.http.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    missing = await live.http.get("/assets/index-nothere.js")
    assert missing.status_code == 404
    assert "immutable" not in missing.headers.get("cache-control", "")


async def test_the_api_keeps_its_routes(live: Live) -> None:
    assert (await live.http.get("/health")).json()["status"] == "ok"
    data = await live.graphql("query { me { username } }", {})
    assert data == {"me": {"username": "admin"}}
    unknown = await live.http.get("/api/v1/nothing")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    # an unknown path is not the page (the app routes by #fragment): a plain 404
    assert (await live.http.get("/instances/7")).status_code == 404


def test_a_checkout_without_a_build_serves_no_page(tmp_path: Path) -> None:
    assert spa.routes(tmp_path) == []
    (tmp_path / "index.html").write_text("<html></html>")
    app = Starlette(routes=spa.routes(tmp_path))
    assert [getattr(r, "path", None) for r in app.routes] == ["/"]


async def test_the_page_s_websocket_is_accepted_from_its_own_origin(live: Live) -> None:
    """A browser on the page served by this process sends Origin = the Host it talks to."""
    host = live.url.removeprefix("http://")
    async with connect(
        live.ws_url,
        subprotocols=[Subprotocol(TRANSPORT_WS)],
        origin=Origin(live.url),
        open_timeout=WAIT,
    ) as socket:
        payload = {"Authorization": f"Bearer {live.admin}"}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
    # the same server under another port (another origin) is refused before the handshake
    port = int(host.rsplit(":", 1)[1])
    for foreign in (f"http://127.0.0.1:{port + 1}", "https://evil.example"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(live.ws_url, origin=Origin(foreign), open_timeout=WAIT)
        assert refused.value.response.status_code == 403


async def test_the_committed_build_is_what_the_page_loads() -> None:
    """index.html names only assets that exist in the package (the build was committed whole)."""
    html = (spa.DASHBOARD / "index.html").read_text(encoding="utf-8")
    for path in asset_paths(html):
        assert (spa.DASHBOARD / path.removeprefix("/")).is_file(), path
    transport = httpx.ASGITransport(app=Starlette(routes=spa.routes()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/")).status_code == 200
