"""The Kafka broker's runtime class path: resolved by Maven from ``pom.xml``, cached in a file.

Maven downloads the jars into ``~/.m2`` once; the class path it prints is cached in
``<cache_dir>/classpath-<pom hash>.txt``, so later starts run neither Maven nor the network. A
changed pom gets a new file, and a cache whose jars have gone (a cleaned ``~/.m2``) is resolved
again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Final
from xml.etree import ElementTree

import platformdirs

from ops.kafka.errors import KafkaBrokerError

log = logging.getLogger(__name__)

POM: Final = Path(__file__).with_name("pom.xml")
MAVEN_TIMEOUT: Final = 900.0


def kafka_version(pom: Path = POM) -> str:
    """The Apache Kafka version the pom fetches (its ``kafka.version`` property)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    try:
        node = ElementTree.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    except (OSError, ElementTree.ParseError) as exc:
        raise KafkaBrokerError(f"cannot read {pom}: {exc}") from exc
    if node is None or not (node.text or "").strip():
        raise KafkaBrokerError(f"{pom}: no <kafka.version> property")
    return (node.text or "").strip()


def default_cache_dir() -> Path:
    return platformdirs.user_cache_path("lagezentrum") / "kafka"


def classpath_file(cache_dir: Path, pom: Path = POM) -> Path:
    """Where the resolved class path of ``pom`` is cached: a new pom means a new file."""
    try:
        digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise KafkaBrokerError(f"cannot read {pom}: {exc}") from exc
    return cache_dir / f"classpath-{digest}.txt"


def _cached_classpath(path: Path) -> list[Path] | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    jars = [Path(p) for p in text.split(os.pathsep) if p]
    # A cleaned ~/.m2 leaves the cache file pointing at nothing: resolve again.
    if not jars or not all(j.is_file() for j in jars):
        return None
    return jars


def resolve_classpath(
    *,
    cache_dir: Path | None = None,
    mvn: str = "mvn",
    refresh: bool = False,
    offline: bool = False,
    pom: Path = POM,
) -> list[Path]:
    """The broker's runtime jars, from the cache file or else resolved by Maven (and cached).

    Maven downloads into ``~/.m2`` on the first call only; ``offline`` passes ``-o`` so a missing
    artifact fails at once instead of trying the network.
    """
    target = classpath_file(cache_dir or default_cache_dir(), pom)
    if not refresh:
        cached = _cached_classpath(target)
        if cached is not None:
            return cached
    mvn_path = shutil.which(mvn)
    if mvn_path is None:
        raise KafkaBrokerError(f"Maven ({mvn!r}) not found on PATH; it fetches the Kafka jars")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
    cmd = [mvn_path, "-q", "-B", "-f", str(pom)]
    if offline:
        cmd.append("-o")
    cmd += [
        "dependency:build-classpath",
        "-Dmdep.includeScope=runtime",
        f"-Dmdep.outputFile={staging}",
    ]
    log.info("resolving the Kafka classpath with Maven: %s", " ".join(cmd))
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=MAVEN_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise KafkaBrokerError(
            f"Maven did not resolve the Kafka classpath within {MAVEN_TIMEOUT:.0f} s"
        ) from exc
    if done.returncode != 0 or not staging.is_file():
        staging.unlink(missing_ok=True)
        tail = _tail(done.stdout + done.stderr, 15)
        raise KafkaBrokerError(f"Maven failed to resolve the Kafka classpath:\n{tail}")
    jars = _cached_classpath(staging)
    if jars is None:
        staging.unlink(missing_ok=True)
        raise KafkaBrokerError("Maven wrote an empty or dangling Kafka classpath")
    staging.replace(target)
    return jars


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
