"""What ``bench kafka`` reads from the logs of the processes it measured: the lines per level of
both log formats (ours in JSON, faust's own), the critical lines, and the worker exits serve's
supervisor logged. The lines are copies of real ones from a bench run whose worker crashed."""

from __future__ import annotations

import json
from pathlib import Path

from ops.bench_kafka_target import Target, summarise

SUPERVISOR = {
    "time": "2026-11-29T15:50:31.216+00:00",
    "level": "warning",
    "logger": "ops.supervisor",
    "message": "correlation worker 26906 exited with code 1 after 20.0 s; restarting it in 1.0 s",
    "exit_code": 1,
    "pid": 26906,
    "restart_in_s": 1.0,
}
LOG = "\n".join(
    [
        json.dumps(
            {
                "time": "2026-11-29T15:50:11.979+00:00",
                "level": "error",
                "logger": "aiokafka.consumer.group_coordinator",
                "message": "Group Coordinator Request failed: [Error 15] "
                "GroupCoordinatorNotAvailableError",
            }
        ),
        '{"time": "2026-11-29T15:50:12.874+00:00", "level": "info", "logger": "uvicorn.error", '
        '"message": "Started server process [26904]"}',
        "[2026-11-29 15:50:26,930] [26906] [WARNING] Timer commit is overlapping (interval=0.5 "
        "runtime=0.6776918659998046) ",
        "[2026-11-29 15:50:28,096] [26906] [ERROR] [^---ProducerBuffer]: Crashed reason="
        "ProducerSendError(\"Error while sending: MessageSizeTooLargeError('The message is "
        "1407373 bytes when serialized …')\") ",
        "Traceback (most recent call last):",
        '  File "/work/main/.venv/lib/python3.11/site-packages/faust/transport/producer.py", '
        "line 125, in _handle_pending",
        "[2026-11-29 15:50:30,356] [26906] [CRITICAL] [^Worker]: We experienced a crash! "
        "Reraising original exception... ",
        json.dumps(SUPERVISOR),
        json.dumps({**SUPERVISOR, "exit_code": 70, "pid": 26931}),
        '{"level": "info", "logger": "ops.supervisor", "message": "correlation worker restarted '
        'as 26931"}',
        "{not json at all",
    ]
)


def test_log_lines_are_counted_per_level_in_both_formats(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    log.write_text(LOG + "\n")
    summary = summarise(log)
    assert summary["levels"] == {"error": 2, "warning": 3, "critical": 1}
    assert summary["critical"] == [
        "[2026-11-29 15:50:30,356] [26906] [CRITICAL] [^Worker]: We experienced a crash! "
        "Reraising original exception..."
    ]


def test_worker_exits_of_serve_are_the_ones_its_supervisor_logged(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    log.write_text(LOG + "\n")
    target = Target("http://x", "http://x", logs={"serve": log}, supervised=1)
    assert target.worker_exits() == [1, 70]
    assert target.log_levels() == {"serve": {"error": 2, "warning": 3, "critical": 1}}
    assert len(target.log_problems()) == 1
    assert target.log_problems()[0].startswith("serve: [2026-11-29 15:50:30,356] [26906]")


def test_a_missing_log_reads_as_empty(tmp_path: Path) -> None:
    assert summarise(tmp_path / "never-written.log") == {"levels": {}, "critical": []}
