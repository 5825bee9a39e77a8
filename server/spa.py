"""The operations dashboard: its built single-page app, served by the API process at ``/``.

The assets are built from ``frontend-contract/dashboard`` (vite) into ``server/dashboard/`` and
committed, so the wheel carries them and ``make run`` needs no Node.js. The app routes with the
URL's hash (``/#/instances/7``): the server only ever serves ``/`` (``index.html``) and the
files under ``/assets/``.

Caching: vite names every asset by its content hash, so an asset never changes under its name
(``immutable``, a year); ``index.html`` names the current assets and is revalidated on every
load (``no-cache``), so a new release is picked up at the next page load.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DASHBOARD = Path(__file__).resolve().parent / "dashboard"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# The page loads only its own scripts and styles and talks only to its own origin (HTTP and
# websockets); 'self' covers ws(s):// of the same host in current browsers, listed anyway.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class ImmutableAssets(StaticFiles):
    """Hashed build outputs: cached for a year, never revalidated."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = IMMUTABLE
        return response


def routes(folder: Path = DASHBOARD) -> list[BaseRoute]:
    """``/`` and ``/assets/*`` when the folder holds a build (``index.html``); none otherwise
    (a checkout whose build was removed still serves the API)."""
    index = folder / "index.html"
    if not index.is_file():
        return []

    async def page(request: Request) -> Response:
        headers = {
            "Cache-Control": REVALIDATE,
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        return FileResponse(index, headers=headers, media_type="text/html")

    served: list[BaseRoute] = [Route("/", page, methods=["GET", "HEAD"])]
    if (folder / "assets").is_dir():
        served.append(Mount("/assets", app=ImmutableAssets(directory=folder / "assets")))
    return served
