"""deploy/k8s renders, validates against the Kubernetes and operator schemas, and keeps its promises.

`kubectl kustomize` (kustomize built into kubectl) renders both overlays. Core objects are validated
with kubernetes-validate (the upstream schemas it bundles, strict: unknown fields refused); KEDA,
RabbitMQ Cluster Operator and CloudNativePG objects against their CRD schemas vendored in
deploy/k8s/schemas (made strict the same way, as `kubectl apply`'s field validation is). Then the
promises docs/runbook.md makes: a Deployment per service folder with probes and resources, a
ScaledObject on every work queue, secrets by reference only, no development credential in
production.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from omni_cli.commands.services import SERVICES
from omni_common.broker.consumer import ConsumerRunner
from omni_common.broker.permissions import service_grants
from omni_common.broker.topology import build_topology
from omni_common.contracts.routing import (
    AI_REQUESTS,
    ENRICH_MESSAGES,
    OUTBOUND_COMMANDS,
    RAW_WEBHOOKS,
    ROUTED_EVENTS,
    STAGES,
)
from omni_common.db.servers import default_password_env

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = K8S / "schemas"
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.30"  # the oldest Kubernetes the manifests are for (docs/runbook.md)
HTTP = {"ingress-webhooks": "OMNI_INGRESS_PORT", "inbox-api": "OMNI_INBOX_PORT"}
# Where probes and Prometheus go: the ingress's public port serves only the webhooks (issue 23).
PROBED = {"inbox-api": "OMNI_INBOX_PORT"}
# The queues each worker consumes (its main.py), by stage name.
WORK = {
    "tenant-router": [RAW_WEBHOOKS],
    "normalizer": [ROUTED_EVENTS, ENRICH_MESSAGES],
    "outbound-sender": [OUTBOUND_COMMANDS],
    "ai-suggester": [AI_REQUESTS],
}
# The sharded stages and the variable that sets each one's shard count (the topology's shards).
SHARDED = {ROUTED_EVENTS: "OMNI_NORMALIZER_SHARDS", OUTBOUND_COMMANDS: "OMNI_OUTBOUND_SHARDS"}
DEV_ONLY = ("guest", "dev-only", "omni-dev:")
# What opens tenant databases (the services whose main.py builds a tenant engine registry, and the
# migration), so needs every database server's password; the router and the ingress read the catalog.
TENANT_DATABASES = {
    "normalizer",
    "outbound-sender",
    "ai-suggester",
    "account-monitor",
    "inbox-api",
    "omni-migrate",
}
CATALOG_CLUSTER = "omni-catalog"  # the `main` server: reached through OMNI_DATABASE_URL

Doc = dict[str, Any]


@cache
def render(overlay: str) -> tuple[Doc, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # .ci/run requires it, so CI never skips this
        pytest.skip("kubectl is not installed")
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize overlays/{overlay} failed:\n{done.stderr}"
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def objects(overlay: str, kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in render(overlay) if d["kind"] == kind}


def _strict(schema: Any) -> Any:
    """Refuse unknown fields wherever an object schema lists its properties (as the API server does)."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def crd_schema(api_version: str, kind: str) -> Doc | None:
    group, _, version = api_version.rpartition("/")
    path = SCHEMAS / group / f"{kind}_{version}.json"
    if not group or not path.exists():
        return None
    schema: Doc = _strict(json.loads(path.read_text()))
    # apiVersion/kind/metadata are checked by the API server itself, not by the CRD schema.
    schema["properties"].setdefault("apiVersion", {"type": "string"})
    schema["properties"].setdefault("kind", {"type": "string"})
    return schema


def validate(doc: Doc) -> None:
    schema = crd_schema(doc["apiVersion"], doc["kind"])
    if schema is not None:
        jsonschema.Draft7Validator(schema).validate(doc)
        return
    kubernetes_validate.validate(copy.deepcopy(doc), KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_validates(overlay: str) -> None:
    docs = render(overlay)
    kinds = {d["kind"] for d in docs}
    for kind in ("Deployment", "Job", "ScaledObject", "TriggerAuthentication", "RabbitmqCluster", "Cluster"):
        assert kind in kinds, kind
    errors = []
    for doc in docs:
        try:
            validate(doc)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc}"[:600])
    assert not errors, "\n".join(errors)


def test_strictness_catches_a_typo() -> None:
    scaled = copy.deepcopy(objects("production", "ScaledObject")["normalizer"])
    scaled["spec"]["maxReplicas"] = 3  # the HPA's spelling, not KEDA's
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)
    deployment = copy.deepcopy(objects("production", "Deployment")["normalizer"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)


def _container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _config(overlay: str) -> dict[str, str]:
    maps = [d for n, d in objects(overlay, "ConfigMap").items() if n.startswith("omni-config")]
    assert len(maps) == 1
    return dict(maps[0]["data"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_folder_has_a_deployment_with_probes_and_resources(overlay: str) -> None:
    folders = {p.name for p in (ROOT / "services").iterdir() if (p / "src").is_dir()}
    assert folders == set(SERVICES)
    deployments = objects(overlay, "Deployment")
    config = _config(overlay)
    drain_s = inspect.signature(ConsumerRunner.__init__).parameters["stop_timeout"].default
    for name in sorted(folders):
        assert name in deployments, f"no Deployment for services/{name}"
        pod = deployments[name]["spec"]["template"]["spec"]
        container = _container(deployments[name])
        assert container["args"] == ["run", name]
        port = int(config[PROBED.get(name, "OMNI_HEALTH_PORT")])
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, (name, probe)
            assert named[get["port"]] == port, (name, probe, "not the port the service serves on")
        annotations = deployments[name]["spec"]["template"]["metadata"].get("annotations", {})
        if "prometheus.io/port" in annotations:
            assert int(annotations["prometheus.io/port"]) == port, (name, "metrics scraped elsewhere")
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) >= {"cpu", "memory"}, (name, bound)
        if name in WORK:
            # Longer than a consumer's drain (ConsumerRunner.stop), or SIGKILL cuts it short.
            assert pod["terminationGracePeriodSeconds"] > drain_s, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


def _trigger_queues(trigger: Doc, names: list[str]) -> set[str]:
    """The queues of ``names`` a rabbitmq trigger reads: its queue, or those its regex matches (the
    management API's ``use_regex`` searches the name, as ``re.search`` does: anchors matter)."""
    meta = trigger["metadata"]
    if meta.get("useRegex") != "true":
        return {meta["queueName"]}
    # Several queues: one management-API call summing their ready messages, like one queue's depth.
    assert meta["protocol"] == "http"
    assert meta["operation"] == "sum"
    # Ready only, as the AMQP triggers read: unacked (up to the prefetch per replica) is work taken.
    assert meta["excludeUnacknowledged"] == "true"
    matched = {n for n in names if re.search(meta["queueName"], n)}
    # KEDA reads one page of matches and fails on more (default 100): raising the shard count past
    # it needs `pageSize` (RabbitMQ serves at most 500 a page).
    assert len(matched) <= int(meta.get("pageSize", "100")) <= 500
    return matched


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_work_queue_scales_its_worker_on_its_depth(overlay: str) -> None:
    config = _config(overlay)
    counts = {stage: int(config[variable]) for stage, variable in SHARDED.items()}
    assert all(n > 0 for n in counts.values()), counts
    topology = build_topology(retry_delays_ms=[1000], delivery_limit=10, shards=counts)
    names = [q.name for q in topology.queues]
    scaled = objects(overlay, "ScaledObject")
    auths = objects(overlay, "TriggerAuthentication")
    # The broker's Secret: an AMQP URL for triggers on one queue, the management API's for the others.
    keys = {"amqp": "host", "http": "management"}
    covered = set()
    for worker, stages in WORK.items():
        spec = scaled[worker]["spec"]
        assert spec["scaleTargetRef"]["name"] == worker
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        queues: set[str] = set()
        for trigger in spec["triggers"]:
            assert trigger["type"] == "rabbitmq"
            assert trigger["metadata"]["mode"] == "QueueLength"
            assert int(trigger["metadata"]["value"]) > 0
            auth = auths[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
            key = keys[trigger["metadata"]["protocol"]]
            assert {(a["parameter"], a["name"], a["key"]) for a in auth} == {("host", "omni-broker", key)}
            read = _trigger_queues(trigger, names)
            assert not read & queues, (worker, "a queue counted twice")
            queues |= read
        # Sharded routed events: the stage queue (what it held before the switch drains) and every
        # shard; no retry or dead-letter queue.
        expected = {q for s in stages for q in (topology.queue_name(s), *topology.shard_queues(s))}
        assert queues == expected, worker
        covered.update(stages)
    assert covered == set(STAGES), f"work queues nobody scales on: {set(STAGES) - covered}"
    for stage, n in counts.items():
        assert len(topology.shard_queues(stage)) == n, stage
    # A replica beyond the shard count would own no shard (it takes only overflow).
    assert scaled["normalizer"]["spec"]["maxReplicaCount"] <= counts[ROUTED_EVENTS]
    assert scaled["outbound-sender"]["spec"]["maxReplicaCount"] <= counts[OUTBOUND_COMMANDS]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_shard_count_matches_compose(overlay: str) -> None:
    """Every service declares the topology: Kubernetes runs the shard counts compose runs."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for variable in SHARDED.values():
        shards = compose["x-omni"]["environment"][variable]
        assert _config(overlay)[variable] == shards, variable


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sharded_workers_are_named_after_their_pod(overlay: str) -> None:
    """A restarted pod keeps its name, so its rendezvous scores, so its shards (broker/shards.py)."""
    deployments = objects(overlay, "Deployment")
    for worker in ("normalizer", "outbound-sender"):
        env = {v["name"]: v for v in _container(deployments[worker]).get("env", [])}
        assert env["OMNI_WORKER_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, worker


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_http_services_scale_on_cpu_behind_services_and_the_ingress(overlay: str) -> None:
    hpas = objects(overlay, "HorizontalPodAutoscaler")
    services = objects(overlay, "Service")
    ingress = objects(overlay, "Ingress")["omni"]
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == set(HTTP)
    # The ingress's Service (what the Ingress routes Meta to) carries only its webhook port.
    webhook_port = int(_config(overlay)["OMNI_INGRESS_PORT"])
    exposed = services["ingress-webhooks"]["spec"]["ports"]
    container = _container(objects(overlay, "Deployment")["ingress-webhooks"])
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert [named.get(p["targetPort"], p["targetPort"]) for p in exposed] == [webhook_port]
    for name in HTTP:
        hpa = hpas[name]["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
        assert services[name]["spec"]["selector"] == {"app.kubernetes.io/name": name}
        assert "replicas" not in objects(overlay, "Deployment")[name]["spec"], "the HPA owns replicas"
    for name in WORK:
        assert "replicas" not in objects(overlay, "Deployment")[name]["spec"], "KEDA owns replicas"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budgets_and_graceful_stops(overlay: str) -> None:
    budgets = objects(overlay, "PodDisruptionBudget")
    for name, deployment in objects(overlay, "Deployment").items():
        if name not in SERVICES:
            continue
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == selector, name
    assert "omni-rabbitmq" in budgets


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_by_reference_and_pods_wait_for_the_migration(overlay: str) -> None:
    job = objects(overlay, "Job")["omni-migrate"]
    assert _container(job)["args"] == ["migrate"]
    workloads = [*objects(overlay, "Deployment").values(), job]
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            for var in container.get("env", []):
                assert "value" not in var, f"{workload['metadata']['name']}: {var['name']} written inline"
                # A secret, or the pod's own metadata (a sharded worker's OMNI_WORKER_ID: its pod name).
                assert {"secretKeyRef", "fieldRef"} & set(var["valueFrom"]), var
        env = {v["name"] for v in _container(workload).get("env", [])}
        if "OMNI_DATABASE_URL" in env and workload["kind"] == "Deployment":
            init = pod.get("initContainers", [])
            assert [c["name"] for c in init] == ["wait-for-schema"], workload["metadata"]["name"]


def _opens_tenant_databases(service: str) -> bool:
    main = ROOT / "services" / service / "src" / service.replace("-", "_") / "main.py"
    return "registry_for(" in main.read_text()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_migration_alone_gets_each_servers_owner_password(overlay: str) -> None:
    """The catalog names a server's password variable (OMNI_DB_SERVER_<NAME>_PASSWORD), never the
    password: the migrate Job gets it from the server's Secret; the services, on their own roles
    (omni-db-<service>), get none."""
    assert {s for s in SERVICES if _opens_tenant_databases(s)} | {"omni-migrate"} == TENANT_DATABASES
    # A CloudNativePG Cluster omni-NAME is server NAME; its operator writes Secret omni-NAME-app.
    servers = {
        c.removeprefix("omni-"): f"{c}-app" for c in objects(overlay, "Cluster") if c != CATALOG_CLUSTER
    }
    if overlay == "production":
        assert set(servers) == {"tenants-b"}
    workloads = {**objects(overlay, "Deployment"), **objects(overlay, "Job")}
    for name, workload in workloads.items():
        env = {v["name"]: v for v in _container(workload).get("env", [])}
        passwords = {v for v in env if v.startswith("OMNI_DB_SERVER_")}
        if name != "omni-migrate":
            assert not passwords, f"{name} gets database passwords it does not use"
            continue
        assert passwords == {default_password_env(s) for s in servers}, name
        for server, secret in servers.items():
            ref = env[default_password_env(server)]["valueFrom"]
            assert ref == {"secretKeyRef": {"name": secret, "key": "password"}}, (name, server)


def test_production_carries_no_credentials_and_the_cluster_shape() -> None:
    text = yaml.safe_dump_all(render("production"))
    for needle in DEV_ONLY:
        assert needle not in text, f"{needle!r} in the production overlay"
    assert not objects("production", "Secret"), "production secrets are created by the operator"
    broker = objects("production", "RabbitmqCluster")["omni-rabbitmq"]["spec"]
    assert broker["replicas"] == 3
    assert "rabbitmq_consistent_hash_exchange" in broker["rabbitmq"]["additionalPlugins"]
    assert len(objects("production", "Cluster")) == 2, "the catalog's server and a tenant server"
    images = {
        c["image"]
        for d in objects("production", "Deployment").values()
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert len(images) == 1
    assert not next(iter(images)).endswith((":latest", ":dev"))


def test_dev_runs_as_is_with_its_own_secrets_and_redis() -> None:
    secrets = objects("dev", "Secret")
    assert set(secrets) >= {"omni-app", "omni-broker", "omni-redis"}
    grants = service_grants(build_topology(retry_delays_ms=[1], delivery_limit=1))
    per_service = {f"{k}-{s}" for s, g in grants.items() if g.broker_user for k in ("url", "password")}
    assert set(secrets["omni-broker"]["data"]) == {"url", "host", "management", *per_service}
    assert "omni-redis" in objects("dev", "StatefulSet")
    assert objects("dev", "RabbitmqCluster")["omni-rabbitmq"]["spec"]["replicas"] == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_media_on_s3_with_credentials_by_reference(overlay: str) -> None:
    """Every service that writes or reads media takes its S3 key from the omni-media Secret (or an
    IAM role: the reference is optional); no pod mounts a media volume."""
    assert _config(overlay)["OMNI_MEDIA_STORAGE"].startswith("s3://omni-media/")
    deployments = objects(overlay, "Deployment")
    for name in ("normalizer", "inbox-api", "outbound-sender"):
        refs = [r["secretRef"]["name"] for r in _container(deployments[name])["envFrom"] if "secretRef" in r]
        assert "omni-media" in refs, name
        mounts = {m["mountPath"] for m in _container(deployments[name]).get("volumeMounts", [])}
        assert not any("media" in m for m in mounts), name
    if overlay == "dev":
        storage = _config("dev")["OMNI_MEDIA_STORAGE"]
        assert "endpoint=http://omni-minio:9000" in storage
        assert "public_endpoint=http://media.omni-dev.localhost" in storage
        assert "omni-minio" in deployments
        assert "omni-minio" in objects("dev", "Service")
        assert "omni-minio-bucket" in objects("dev", "Job")
        rule = objects("dev", "Ingress")["omni-minio"]["spec"]["rules"][0]
        assert rule["host"] == "media.omni-dev.localhost"
        keys = set(objects("dev", "Secret")["omni-media"]["data"])
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= keys
    else:
        assert "omni-minio" not in deployments, "production uses the operator's S3, not the dev MinIO"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_use_their_own_broker_users_made_before_the_migration(overlay: str) -> None:
    """The Job's broker-setup (the administrator: key ``url``) declares the topology and makes the
    users; each Deployment connects with its own (key ``url-<service>``) and declares nothing."""
    from omni_common.broker.permissions import password_variable

    job = objects(overlay, "Job")["omni-migrate"]
    setup = job["spec"]["template"]["spec"]["initContainers"][0]
    assert setup["args"] == ["broker", "setup"]
    refs = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in setup["env"]}
    assert refs["OMNI_RABBITMQ_URL"] == {"name": "omni-broker", "key": "url"}
    assert _config(overlay)["OMNI_BROKER_DECLARE_TOPOLOGY"] == "false"
    for name, deployment in objects(overlay, "Deployment").items():
        env = {v["name"]: v.get("valueFrom", {}) for v in _container(deployment).get("env", [])}
        if name not in SERVICES or "OMNI_RABBITMQ_URL" not in env:
            continue
        assert env["OMNI_RABBITMQ_URL"]["secretKeyRef"] == {"name": "omni-broker", "key": f"url-{name}"}
        assert refs[password_variable(name)] == {"name": "omni-broker", "key": f"password-{name}"}
