"""The shapely paths the native engine calls back into Python: an exception there reaches the
caller as itself (as in the Python engine), not as a Rust panic, and the engine goes on.
(What the failed call left applied may differ from the Python engine, which stops midway.)"""

from __future__ import annotations

import pytest

from correlation.native import NativeEngine
from correlation.native.geometry import Helper
from tests.correlation.helpers import KOBLENZ, report


def test_an_exception_in_a_geometry_callback_is_raised_as_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = NativeEngine()
    lon, lat = KOBLENZ
    ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat]]
    polygon = {"type": "Polygon", "coordinates": [ring]}

    def broken(self: Helper, _report: object) -> None:
        raise ValueError("shapely broke")

    with monkeypatch.context() as patch:
        patch.setattr(Helper, "point_of", broken)
        with pytest.raises(ValueError, match="shapely broke"):
            engine.process(report("fire", "p1", point=None, geometry=polygon))
    assert engine.process(report("fire", "f1", point=KOBLENZ))
    assert ["fire:f1"] in [i["threads"] for i in engine.picture().incidents.values()]
