"""The distributed mode end to end on a real Kafka broker: the same log gives the embedded
picture, and two API instances serve identical pictures and streams."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Sequence

import msgspec

from ingest.report import Report
from situation_api.services import Services
from tests.distributed.conftest import bus_source, converge, essence, feed, scenario, services

_json = msgspec.json.Decoder()


async def embedded_picture(reports: Sequence[Report]) -> dict[str, object]:
    async with services("memory://") as embedded:
        await feed(embedded, tuple(reports))
        runtime = embedded.runtime
        assert await runtime.wait_processed(len(reports), timeout=30)
        await asyncio.sleep(0.5)  # a tick: the timers the clock passed have fired
        picture: dict[str, object] = _json.decode(runtime.picture_json())
        return picture


def assert_same(got: dict[str, object], want: dict[str, object]) -> None:
    """Equal, or a failure that names the first differing entity and fields."""
    for layer in ("incidents", "warnings"):
        have = {v["id"]: v for v in got[layer]}  # type: ignore[attr-defined]
        need = {v["id"]: v for v in want[layer]}  # type: ignore[attr-defined]
        assert sorted(have) == sorted(need), layer
        for ident, view in need.items():
            diff = {k: (have[ident].get(k), v) for k, v in view.items() if have[ident].get(k) != v}
            assert not diff, f"{layer} {ident}: {diff}"
    assert got == want


def bus_picture(api: Services) -> dict[str, object]:
    picture: dict[str, object] = _json.decode(api.runtime.picture_json())
    return picture


async def test_same_log_same_picture_and_two_apis_agree(
    bus_url: str, workers: Callable[[], subprocess.Popen[bytes]]
) -> None:
    plan = scenario(seed=11)
    reference = essence(await embedded_picture(plan.reports))
    assert len(reference["incidents"]) >= 10  # type: ignore[arg-type]
    assert reference["warnings"], "the scenario's warnings must be live"
    workers()
    streamed: list[list[tuple[int, bytes]]] = [[], []]
    async with services("memory://", bus=bus_url) as first:
        source = bus_source(first)
        source.subscribe(streamed[0].extend)
        await feed(first, plan.reports)
        got = await converge(lambda: essence(bus_picture(first)), reference, timeout=60)
        assert_same(got, reference)
        # A second instance started later rebuilds the same picture from the compacted topic.
        async with services("memory://", bus=bus_url) as second:
            bus_source(second).subscribe(streamed[1].extend)
            again = await converge(lambda: essence(bus_picture(second)), reference, timeout=30)
            assert_same(again, reference)
            await bus_source(first).wait_seq(second.runtime.seq, 10)
            await bus_source(second).wait_seq(first.runtime.seq, 10)
            assert first.runtime.seq == second.runtime.seq
            assert first.runtime.picture_json() == second.runtime.picture_json()
            # Both streams end in the same state per entity.
            finals = []
            for stream in streamed:
                final: dict[tuple[str, str], object] = {}
                for _, encoded in stream:
                    change = _json.decode(encoded)
                    final[(change["entity"], change["id"])] = change["view"]
                finals.append(final)
            live_first = {k: v for k, v in finals[0].items() if v is not None}
            live_second = {k: v for k, v in finals[1].items() if v is not None}
            assert live_second.items() <= live_first.items()
            assert {k for k in live_first if k[0] == "incident"} == {
                ("incident", i["id"])
                for i in reference["incidents"]  # type: ignore[attr-defined]
            }
