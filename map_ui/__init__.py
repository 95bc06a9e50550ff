"""The operations display for duty officers (``map_ui/web``): a browser application that talks to
the situation API only through HTTP and the websocket stream.

The Python side only says where the display's files are, so the API can serve them locally (no
CDN at run time): the application itself (``web/app``) and the browser libraries installed from
the npm registry at setup time (``npm ci`` in ``web/``; its postinstall step renders the DV 102
tactical symbols into ``web/vendor``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

WEB: Final = Path(__file__).resolve().parent / "web"
APP: Final = WEB / "app"
_MODULES: Final = WEB / "node_modules"

# URL name under /assets/vendor/ -> directory served there.
VENDOR: Final[dict[str, Path]] = {
    "leaflet": _MODULES / "leaflet" / "dist",
    "markercluster": _MODULES / "leaflet.markercluster" / "dist",
    "uplot": _MODULES / "uplot" / "dist",
    "symbols": WEB / "vendor",
}

# The files the display cannot work without (checked at start-up and by the tests).
REQUIRED: Final = (
    APP / "index.html",
    VENDOR["leaflet"] / "leaflet.js",
    VENDOR["markercluster"] / "leaflet.markercluster.js",
    VENDOR["uplot"] / "uPlot.esm.js",
    VENDOR["symbols"] / "tactical-symbols.js",
)


def missing_assets() -> list[Path]:
    """Required display files that are not there (``npm ci`` in map_ui/web not run yet)."""
    return [path for path in REQUIRED if not path.is_file()]
