"""The deployment files (ops/deploy: docker-compose, Kubernetes, Dockerfile, README) agree with the
code: every process runs a real ``lagezentrum`` command whose options parse, every
``LAGEZENTRUM_*`` name is a real setting, each process gets the settings it cannot run without,
ports, probes, selectors and topic layout line up, and the image holds what the processes need.

No Docker or cluster is needed: the files are read as the tools would read them, and the
commands are parsed by the real command line (without running them)."""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import typer.main
import yaml  # type: ignore[import-untyped]

import map_ui
from ingest.bus.url import bootstrap_of
from ops.cli import app
from ops.kafka.classpath import kafka_version
from situation_api.app import create_app
from situation_api.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "ops" / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
HTTP_COMMANDS = frozenset({"api", "ingest", "serve"})
SETTINGS = frozenset(f"LAGEZENTRUM_{name.upper()}" for name in Settings.model_fields)


# -- the files, read ------------------------------------------------------------------------------


@dataclass
class Process:
    """One container that runs lagezentrum: its argv, environment, ports and probes."""

    where: str
    argv: list[str]
    env: dict[str, str]
    ports: list[int] = field(default_factory=list)
    probes: list[tuple[str, int]] = field(default_factory=list)
    replicas: int = 1

    @property
    def command(self) -> str:
        return self.argv[1]


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]]


def dockerfile() -> list[Stage]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, []))
        stages[-1].instructions.append((keyword, rest.strip()))
    return stages


def image_entrypoint() -> list[str]:
    found: list[str] = []
    for keyword, rest in dockerfile()[-1].instructions:
        if keyword == "ENTRYPOINT":
            found = yaml.safe_load(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
    return found


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in MANIFESTS:
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def compose_processes() -> Iterator[Process]:
    for name, service in compose()["services"].items():
        argv = [str(a) for a in service.get("command") or []]
        if not argv or argv[0] != "lagezentrum":
            continue
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        ports = [int(str(p).rpartition(":")[2]) for p in service.get("ports") or []]
        yield Process(f"compose service {name}", argv, env, ports)


def named(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def k8s_processes() -> Iterator[Process]:
    docs = manifests()
    maps, secrets = named(docs, "ConfigMap"), named(docs, "Secret")
    for name, deployment in named(docs, "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            where = f"Deployment {name} container {container['name']}"
            command = container.get("command")
            argv = [*(command or image_entrypoint()), *(container.get("args") or [])]
            env: dict[str, str] = {}
            for source in container.get("envFrom") or []:
                if "configMapRef" in source:
                    ref = source["configMapRef"]["name"]
                    assert ref in maps, f"{where}: no ConfigMap {ref}"
                    env.update(maps[ref].get("data") or {})
                if "secretRef" in source:
                    ref = source["secretRef"]["name"]
                    assert ref in secrets, f"{where}: no Secret {ref}"
                    secret = secrets[ref]
                    env.update(secret.get("stringData") or {})
                    env.update(
                        {
                            k: base64.b64decode(v).decode()
                            for k, v in (secret.get("data") or {}).items()
                        }
                    )
            env.update({e["name"]: str(e.get("value", "")) for e in container.get("env") or []})
            ports = [p["containerPort"] for p in container.get("ports") or []]
            probes = [
                (container[kind]["httpGet"]["path"], container[kind]["httpGet"]["port"])
                for kind in ("readinessProbe", "livenessProbe", "startupProbe")
                if "httpGet" in (container.get(kind) or {})
            ]
            yield Process(
                where, [str(a) for a in argv], env, ports, probes, deployment["spec"]["replicas"]
            )


PROCESSES = [*compose_processes(), *k8s_processes()]


# -- the command line, parsed without running anything ---------------------------------------------


def envvars_of(command: Any) -> set[str]:
    """The environment variables a command's options read (besides the Settings)."""
    return {
        e
        for p in command.params
        for e in ([p.envvar] if isinstance(p.envvar, str) else p.envvar or [])
    }


@dataclass
class Parsed:
    params: dict[str, Any]
    envvars: set[str]
    settings: Settings


def parse(process: Process, monkeypatch: pytest.MonkeyPatch) -> Parsed:
    """The command's options as the CLI parses them in the container's environment, and the
    Settings the process would load there."""
    from ops import commands  # noqa: F401  # registers every command

    for name in [n for n in os.environ if n.startswith("LAGEZENTRUM_")]:
        monkeypatch.delenv(name)
    for name, value in process.env.items():
        monkeypatch.setenv(name, value)
    group = typer.main.get_command(app)
    assert process.argv[0] == "lagezentrum", f"{process.where}: runs {process.argv}"
    try:
        top = group.make_context("lagezentrum", process.argv[1:])
        protected = getattr(top, "_protected_args", None) or getattr(top, "protected_args", [])
        name, command, rest = group.resolve_command(top, [*protected, *top.args])  # type: ignore[attr-defined]
        assert command is not None
        assert name is not None
        context = command.make_context(name, rest, parent=top)
    except Exception as error:  # the CLI's own usage errors: name the file's process
        pytest.fail(f"{process.where}: `{shlex.join(process.argv)}`: {error}")
    given = {k: v for k, v in context.params.items() if k in Settings.model_fields}
    return Parsed(context.params, envvars_of(command), load_settings(None, **given))


# -- the tests -----------------------------------------------------------------------------------


def test_the_files_hold_the_processes_of_the_distributed_mode() -> None:
    for where in ("compose service", "Deployment"):
        commands = {p.command for p in PROCESSES if p.where.startswith(where)}
        assert commands == {"ingest", "correlate", "api", "archive"}, where


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.where)
def test_each_process_gets_a_complete_valid_configuration(
    process: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = parse(process, monkeypatch)
    unknown = {n for n in process.env if n.startswith("LAGEZENTRUM_")} - SETTINGS - parsed.envvars
    assert not unknown, f"{process.where}: not settings of `lagezentrum {process.command}`"
    settings = parsed.settings
    assert settings.bus is not None, f"{process.where}: no LAGEZENTRUM_BUS"
    bootstrap_of(settings.bus)
    if process.command == "archive":
        assert settings.database_url, f"{process.where}: the archive needs a database"
    if process.command in HTTP_COMMANDS and settings.auth:
        # API tokens live in the database; without one no request could ever be admitted.
        assert settings.database_url, f"{process.where}: access control needs the database"
    if settings.database_url is not None:
        assert urlsplit(settings.database_url).scheme in ("postgresql", "postgres")


@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.where)
async def test_ports_and_probes_reach_the_server(
    process: Process, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = parse(process, monkeypatch).settings
    if process.command not in HTTP_COMMANDS:
        assert not process.ports, f"{process.where} serves no HTTP"
        assert not process.probes, f"{process.where} serves no HTTP"
        return
    assert settings.host in ("0.0.0.0", "::"), f"{process.where}: listens on {settings.host} only"
    assert process.ports == [settings.port], process.where
    application = create_app(Settings(auth=False), database_url="memory://")
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
        for path, port in process.probes:
            assert port == settings.port, f"{process.where}: probe on port {port}"
            status = (await client.get(path)).status_code
            assert status not in (404, 405), f"{process.where}: probe path {path} is no route"


@pytest.mark.parametrize("where", ["compose service", "Deployment"])
def test_every_process_declares_the_same_topic_layout(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    processes = [p for p in PROCESSES if p.where.startswith(where)]
    layouts = {
        p.where: (params["partitions"], params["replication"])
        for p in processes
        if "partitions" in (params := parse(p, monkeypatch).params)
    }
    assert len(layouts) == len(processes)
    assert len(set(layouts.values())) == 1, layouts
    (partitions, replication), *_ = layouts.values()
    for process in processes:
        if process.command == "correlate":
            assert process.replicas <= partitions, f"{process.where}: idle workers"
    if where == "compose service":
        brokers = [s for s in compose()["services"].values() if "kafka" in s.get("image", "")]
        assert replication <= len(brokers)


def test_compose_wires_kafka_and_postgres_as_the_processes_expect() -> None:
    services = compose()["services"]
    volumes = set(compose().get("volumes") or {})
    for name, service in services.items():
        for needed in service.get("depends_on") or []:
            assert needed in services, f"{name} depends on unknown {needed}"
        for volume in service.get("volumes") or []:
            assert volume.split(":")[0] in volumes, f"{name}: volume {volume} not declared"
    lz = [s for s in services.values() if (s.get("command") or [""])[0] == "lagezentrum"]
    assert {s["image"] for s in lz} == {"lagezentrum:latest"}
    for service in lz:
        build = service["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == REPO
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE
    env = lz[0]["environment"]

    kafka = services[bootstrap_of(env["LAGEZENTRUM_BUS"]).split(":")[0]]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka"
    # The development broker (ops/kafka/pom.xml) and the deployed one: the same Kafka release.
    assert tag.split(".")[:2] == kafka_version().split(".")[:2]
    k = {key: str(value) for key, value in kafka["environment"].items()}
    assert f"PLAINTEXT://{bootstrap_of(env['LAGEZENTRUM_BUS'])}" in k[
        "KAFKA_ADVERTISED_LISTENERS"
    ].split(",")
    # The image refuses KRaft mode without a cluster id (16 bytes, URL-safe base64).
    assert len(base64.urlsafe_b64decode(k["CLUSTER_ID"] + "==")) == 16
    listeners = {item.split("://")[0] for item in k["KAFKA_LISTENERS"].split(",")}
    mapped = dict(item.split(":") for item in k["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert listeners <= set(mapped)
    assert k["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert k["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    mounts = [v.split(":")[1] for v in kafka.get("volumes") or []]
    assert any(k["KAFKA_LOG_DIRS"].startswith(m) for m in mounts), "Kafka data not on a volume"
    for key in [k_ for k_ in k if k_.endswith(("REPLICATION_FACTOR", "MIN_ISR"))]:
        assert int(k[key]) == 1, f"{key}: a single broker"

    url = urlsplit(env["LAGEZENTRUM_DATABASE_URL"])
    postgres = services[url.hostname or ""]
    assert "timescaledb" in postgres["image"]
    pg = postgres["environment"]
    assert (url.username, url.password, url.path.lstrip("/"), url.port) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        pg["POSTGRES_DB"],
        5432,
    )


def test_kubernetes_objects_refer_to_each_other() -> None:
    docs = manifests()
    deployments = named(docs, "Deployment")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    for name, service in named(docs, "Service").items():
        selected = [
            d
            for d in deployments.values()
            if service["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, f"Service {name} selects {len(selected)} Deployments"
        ports = {
            p["containerPort"]
            for c in selected[0]["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports") or []
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service {name}: no container port {port}"
    for path in MANIFESTS:
        for mentioned in re.findall(r"[\w.-]+\.ya?ml", path.read_text(encoding="utf-8")):
            assert (path.parent / mentioned).is_file(), f"{path.name} refers to {mentioned}"


def test_the_image_holds_the_packages_the_display_and_a_writable_work_directory() -> None:
    stages = dockerfile()
    final = stages[-1].instructions
    copies = [rest.split() for keyword, rest in final if keyword == "COPY"]
    plain = {source for words in copies if not words[0].startswith("--") for source in words[:-1]}
    packages = {"ingest", "correlation", "situation_api", "map_ui", "ops"}
    assert packages | {"pyproject.toml", "constraints.txt"} <= plain
    install = " ".join(
        rest for keyword, rest in final if keyword == "RUN" and "pip install" in rest
    )
    assert "-c constraints.txt" in install
    pins = dict(
        line.split("==")
        for line in (REPO / "constraints.txt").read_text().splitlines()
        if "==" in line
    )
    for name, version in re.findall(r"([A-Za-z0-9_.-]+)==([^\s]+)", install):
        assert pins.get(name) == version, f"{name}=={version} differs from constraints.txt"
    # The display's libraries are npm packages (not in git, not package data): a build stage
    # installs them and the final image carries them beside map_ui, installed in place (-e).
    assert " -e ." in install
    npm_stages = {s.name for s in stages[:-1] if any("npm ci" in r for k, r in s.instructions)}
    from_npm = [w[-1] for w in copies if w[0] in {f"--from={n}" for n in npm_stages}]
    workdirs = [rest for keyword, rest in final if keyword == "WORKDIR"]
    tracked = set(
        subprocess.run(
            ["git", "ls-files", "map_ui"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    for required in map_ui.REQUIRED:
        relative = required.relative_to(REPO).as_posix()
        assert relative in tracked or any(relative.startswith(d + "/") for d in from_npm), (
            f"{relative} is neither in git nor built into the image"
        )
    # A non-root user that can write its working directory: faust keeps its data directory there.
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    assert f"chown {users[-1]}" in runs
    assert workdirs[-1] in runs
    env = dict(rest.split("=", 1) for keyword, rest in final if keyword == "ENV" and "=" in rest)
    assert env.get("LAGEZENTRUM_DATA_DIR") == workdirs[-1]
    assert {name for name in env if name.startswith("LAGEZENTRUM_")} <= SETTINGS
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert {"**/.venv", "**/node_modules", ".git"} <= set(ignored)


def test_the_deploy_readme_names_real_commands_options_and_settings() -> None:
    from ops import commands  # noqa: F401

    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    group = typer.main.get_command(app)
    subcommands = group.commands  # type: ignore[attr-defined]
    distributed = [subcommands[n] for n in ("ingest", "correlate", "api", "archive", "serve")]
    options = {o for c in distributed for p in c.params for o in p.opts}
    envvars = set().union(*(envvars_of(c) for c in distributed))
    for name in re.findall(r"`lagezentrum ([a-z]+)", text):
        assert name in subcommands, f"README: lagezentrum {name}"
    for name in re.findall(r"LAGEZENTRUM_[A-Z_]+", text):
        assert name in SETTINGS | envvars, f"README: {name}"
    for option in re.findall(r"`(--[a-z-]+)", text):
        assert option in options, f"README: {option}"
