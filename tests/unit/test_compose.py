"""docker-compose.yml is a valid Compose file that runs every service, healthy and scalable.

The Docker client here has no compose plugin (so no `docker compose config`): PyYAML resolves the
anchors and compose-spec validates the result against the Compose Specification; the checks below are
the promises the runbook makes about it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from compose_spec import PyCompose

from omni_cli.commands.services import SERVICES
from omni_common.broker.cluster import broker_urls

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
# Served on fixed host ports on purpose; everything else must scale with --scale (the two HTTP
# services too: the balancer publishes their ports). MinIO too: browsers load media from it through
# the inbox's signed links.
FRONT_DOORS = {"balancer", "meta-sandbox", "minio"}
CADDYFILE = COMPOSE.parent / "infra" / "balancer" / "Caddyfile"


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
    for infra in ("postgres", "rabbitmq", "rabbitmq-2", "rabbitmq-3", "redis", "minio"):
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
    assert "rabbitmq_consistent_hash_exchange" in plugins
    # Scaled senders share one pacing budget per number.
    assert services["outbound-sender"]["environment"]["OMNI_OUTBOUND_REDIS_URL"].startswith("redis://redis")
    assert services["meta-sandbox"]["profiles"] == ["demo"]


def test_media_lives_in_minio_not_on_a_shared_volume(compose: dict[str, Any]) -> None:
    services = compose["services"]
    # Written by the normalizer (downloads) and the inbox (staff's files), read by the inbox and
    # the sender: all through S3, so no app container mounts a volume and each scales on its own.
    for name in ("normalizer", "inbox-api", "outbound-sender"):
        env = services[name]["environment"]
        storage = env["OMNI_MEDIA_STORAGE"].split(":-", 1)[-1]
        assert storage.startswith("s3://omni-media?endpoint=http://minio:9000"), name
        assert "public_endpoint=http://127.0.0.1:9000" in storage
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env), name
        assert not any(v.endswith(":/app/var/media") for v in services[name].get("volumes", [])), name
        assert services[name]["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully"
    assert services["minio"]["image"].startswith("minio/minio:RELEASE.")
    assert "media:/data" in services["minio"]["volumes"]
    assert "mb --ignore-existing media/omni-media" in " ".join(services["minio-bucket"]["command"])


RABBIT_NODES = ("rabbitmq", "rabbitmq-2", "rabbitmq-3")


def _conf(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")
    return {k.strip(): v.strip() for k, v in pairs}


def test_the_cluster_profile_runs_three_rabbitmq_nodes_that_find_each_other(compose: dict[str, Any]) -> None:
    services = compose["services"]
    nodes = [services[name] for name in RABBIT_NODES]
    assert "profiles" not in nodes[0], "the first node runs without the profile (a cluster of one)"
    assert all(n.get("profiles") == ["cluster"] for n in nodes[1:])
    # Same image and one shared Erlang cookie (written to the cookie file by the entrypoint).
    assert len({n["image"] for n in nodes}) == 1
    assert len({n["environment"]["OMNI_ERLANG_COOKIE"] for n in nodes}) == 1
    assert all(".erlang.cookie" in " ".join(n["entrypoint"]) for n in nodes)
    # Peer discovery by configuration: the node names listed are the nodes' own (rabbit@hostname).
    mounts = [{v.split(":")[1]: v.split(":")[0] for v in n["volumes"]} for n in nodes]
    confs = {m["/etc/rabbitmq/conf.d/20-omni-cluster.conf"] for m in mounts}
    assert len(confs) == 1
    conf = _conf(COMPOSE.parent / confs.pop())
    assert conf["cluster_formation.peer_discovery_backend"] == "classic_config"
    listed = {v for k, v in conf.items() if k.startswith("cluster_formation.classic_config.nodes.")}
    assert listed == {f"rabbit@{n['hostname']}" for n in nodes}
    # Quorum queues get a member on each of the three nodes, also when declared before a node joined.
    assert conf["quorum_queue.continuous_membership_reconciliation.enabled"] == "true"
    assert conf["quorum_queue.continuous_membership_reconciliation.target_group_size"] == "3"
    assert conf["cluster_partition_handling"] == "pause_minority"
    # Plugins, each node its own data.
    plugins = {(COMPOSE.parent / m["/etc/rabbitmq/enabled_plugins"]).read_text() for m in mounts}
    assert len(plugins) == 1
    for plugin in ("rabbitmq_management", "rabbitmq_prometheus", "rabbitmq_consistent_hash_exchange"):
        assert plugin in next(iter(plugins))
    assert len({m["/var/lib/rabbitmq"] for m in mounts}) == 3
    for n in nodes[1:]:
        assert n["depends_on"] == {"rabbitmq": {"condition": "service_healthy"}}, "join a running node"
        assert "healthcheck" in n
        assert "ports" not in n


def test_every_service_lists_every_broker_node(compose: dict[str, Any]) -> None:
    services = compose["services"]
    hostnames = [services[name]["hostname"] for name in RABBIT_NODES]
    for name in SERVICES:
        urls = broker_urls(services[name]["environment"]["OMNI_RABBITMQ_URL"])
        assert [urlsplit(u).hostname for u in urls] == hostnames, name


def test_the_http_services_scale_behind_the_balancer(compose: dict[str, Any]) -> None:
    services = compose["services"]
    balancer = services["balancer"]
    assert set(balancer["ports"]) == {"127.0.0.1:8000:8000", "127.0.0.1:8080:8080"}
    caddy = CADDYFILE.read_text()
    for name, port in (("inbox-api", 8000), ("ingress-webhooks", 8080)):
        assert "ports" not in services[name], f"{name} must scale: only the balancer publishes"
        assert f"dynamic a {name} {port}" in caddy  # every replica, found through Docker's DNS
        assert balancer["depends_on"][name] == {"condition": "service_healthy"}
    assert "flush_interval -1" in caddy  # live events are streamed, not buffered
    assert "health_uri /readyz" in caddy
    sandbox = " ".join(services["meta-sandbox"]["command"])
    assert "--ingress-url http://balancer:8080" in sandbox  # webhooks go through the balancer too
    assert services["inbox-api"]["environment"]["OMNI_TRUSTED_PROXIES"]


def test_database_server_passwords_reach_every_tenant_database_process(compose: dict[str, Any]) -> None:
    """A server's password (OMNI_DB_SERVER_<NAME>_PASSWORD) goes in .env: each process that opens
    tenant databases reads it (docs/runbook.md, "Database servers")."""
    for name in ("migrate", "normalizer", "outbound-sender", "ai-suggester", "account-monitor", "inbox-api"):
        paths = [f["path"] if isinstance(f, dict) else f for f in compose["services"][name]["env_file"]]
        assert ".env" in paths, name


def test_services_use_their_own_broker_users_made_by_migrate(compose: dict[str, Any]) -> None:
    """Production (compose's OMNI_ENV) refuses guest: migrate declares the topology and makes the users."""
    from omni_common.broker.permissions import service_grants, user_name
    from omni_common.broker.topology import build_topology

    services = compose["services"]
    assert "omni broker setup" in " ".join(services["migrate"]["command"])
    grants = service_grants(build_topology(retry_delays_ms=[1], delivery_limit=1))
    for name in SERVICES:
        if not grants[name].broker_user:
            continue
        env = services[name]["environment"]
        assert env["OMNI_BROKER_DECLARE_TOPOLOGY"] == "false", name
        users = {urlsplit(u).username for u in broker_urls(env["OMNI_RABBITMQ_URL"])}
        assert users == {user_name(name)}, name
        assert services["migrate"]["environment"][f"OMNI_BROKER_PASSWORD_{name.upper().replace('-', '_')}"]
