"""What the operations display needs from the API besides the situation: its own files, the
bundled district and municipality outlines, and its configuration.

Everything is served from this process, so the display works without internet access: ``/`` is
the display, ``/assets/app/...`` its code, ``/assets/vendor/<lib>/...`` the browser libraries
installed from npm at setup time. The outlines come from ``ingest/data`` (the same data the
engine uses), so the map is never blank when no basemap tiles can be reached.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from functools import cache
from importlib import resources
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from starlette.staticfiles import StaticFiles

import map_ui

log = logging.getLogger(__name__)

GEO_RESOURCES: Final = {
    "districts": "rlp_kreise.geojson",
    "municipalities": "rlp_gemeinden.geojson",
}
_GEOJSON: Final = "application/geo+json"
# Outlines change with a software release only; a day keeps wall displays off the API after reload.
_GEO_CACHE: Final = "public, max-age=86400"


class UiConfig(BaseModel):
    tile_url: str | None = Field(
        description="basemap tile URL template ({z}/{x}/{y}), or null: outlines only"
    )
    tile_attribution: str | None
    outline_attribution: str = Field(description="attribution of the bundled outlines")


@cache
def _geo(name: str) -> tuple[bytes, bytes, str]:
    """(plain, gzip, etag) of one bundled outline file, read once."""
    plain = resources.files("ingest.data").joinpath(GEO_RESOURCES[name]).read_bytes()
    etag = f'"{name}-{len(plain)}-{zlib.crc32(plain):08x}"'
    return plain, gzip.compress(plain, 6, mtime=0), etag


def _geo_response(request: Request, name: str) -> Response:
    plain, packed, etag = _geo(name)
    headers = {"Cache-Control": _GEO_CACHE, "ETag": etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type=_GEOJSON, headers=headers)
    return Response(plain, media_type=_GEOJSON, headers=headers)


def ui_router(tile_url: str | None = None, tile_attribution: str | None = None) -> APIRouter:
    router = APIRouter(tags=["display"])
    config = UiConfig(
        tile_url=tile_url,
        tile_attribution=tile_attribution,
        outline_attribution="© GeoBasis-DE / BKG 2021 (Daten verändert)",
    )

    @router.get(
        "/api/v1/geo/districts",
        summary="RLP districts (Kreise, kreisfreie Städte) as GeoJSON, with AGS and name",
        response_class=Response,
        responses={200: {"content": {_GEOJSON: {}}}},
    )
    async def geo_districts(request: Request) -> Response:
        return _geo_response(request, "districts")

    @router.get(
        "/api/v1/geo/municipalities",
        summary="RLP municipalities (Gemeinden) as GeoJSON, with AGS and name",
        response_class=Response,
        responses={200: {"content": {_GEOJSON: {}}}},
    )
    async def geo_municipalities(request: Request) -> Response:
        return _geo_response(request, "municipalities")

    @router.get("/api/v1/ui/config", response_model=UiConfig, summary="Display configuration")
    async def ui_config() -> UiConfig:
        return config

    @router.get("/", include_in_schema=False)
    async def display() -> FileResponse:
        return FileResponse(map_ui.APP / "index.html", headers={"Cache-Control": "no-cache"})

    return router


def mount_ui(
    app: FastAPI, *, tile_url: str | None = None, tile_attribution: str | None = None
) -> None:
    """Serve the display at ``/`` (and its files under ``/assets``) from ``app``."""
    missing = map_ui.missing_assets()
    if missing:
        # The API works without the display; say once how to get it.
        log.warning(
            "operations display incomplete: run `npm ci` in map_ui/web (missing %s)",
            ", ".join(str(path) for path in missing),
        )
    app.include_router(ui_router(tile_url, tile_attribution))
    app.mount("/assets/app", StaticFiles(directory=map_ui.APP, check_dir=False), name="ui-app")
    for name, directory in map_ui.VENDOR.items():
        app.mount(
            f"/assets/vendor/{name}",
            StaticFiles(directory=directory, check_dir=False),
            name=f"ui-vendor-{name}",
        )
