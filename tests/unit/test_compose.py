"""docker-compose.yml is a valid Compose file that runs every service, healthy and scalable.

The Docker client here has no compose plugin (so no `docker compose config`): PyYAML resolves the
anchors and compose-spec validates the result against the Compose Specification; the checks below are
the promises the runbook makes about it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose

from omni_cli.commands.services import SERVICES

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
# Served on fixed host ports on purpose; everything else must scale with --scale.
FRONT_DOORS = {"ingress-webhooks", "inbox-api", "meta-sandbox"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    parsed = PyCompose.from_yaml(yaml.safe_dump(compose))
    parsed.validate()
    assert set(parsed.service_names()) == set(compose["services"])


def test_every_service_runs_with_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in SERVICES:
        assert services[name]["command"] == ["run", name], name
        check = services[name]["healthcheck"]
        assert not check.get("disable"), name
        assert "/readyz" in " ".join(check["test"]), name
    for infra in ("postgres", "rabbitmq", "redis"):
        assert "healthcheck" in services[infra], infra


def test_workers_scale_without_collisions(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert "container_name" not in service, name
        if name not in FRONT_DOORS and name not in ("postgres", "rabbitmq"):
            assert "ports" not in service, f"{name} publishes a host port: --scale would collide"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"


def test_dependencies_exist_and_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, cond in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond["condition"] in ("service_healthy", "service_completed_successfully"), name


def test_operators_tools_and_shared_state(compose: dict[str, Any]) -> None:
    services = compose["services"]
    rabbitmq = services["rabbitmq"]
    assert "management" in rabbitmq["image"]
    # RabbitMQ's own Prometheus endpoint, for operators; the plugins file it mounts enables it.
    assert "127.0.0.1:15692:15692" in rabbitmq["ports"]
    mount = next(v for v in rabbitmq["volumes"] if v.endswith(":/etc/rabbitmq/enabled_plugins:ro"))
    plugins = (COMPOSE.parent / mount.split(":")[0]).read_text()
    assert "rabbitmq_prometheus" in plugins
    assert "rabbitmq_management" in plugins
    # Scaled senders share one pacing budget per number; media written by the normalizer is
    # served by the inbox.
    assert services["outbound-sender"]["environment"]["OMNI_OUTBOUND_REDIS_URL"].startswith("redis://redis")
    assert "media:/app/var/media" in services["normalizer"]["volumes"]
    assert "media:/app/var/media" in services["inbox-api"]["volumes"]
    assert services["meta-sandbox"]["profiles"] == ["demo"]
