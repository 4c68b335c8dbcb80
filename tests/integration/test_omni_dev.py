"""`omni dev`: every service in its own process, a signed webhook into a tenant DB, a clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psutil
import psycopg
import pytest
from pg_second_server import omni, own_catalog
from pipeline import provision, sign, unique_digits, wait_until
from sandbox_server import free_port, free_ports
from testenv import APP_SECRET, drop_databases

from omni_common.channels import samples
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def settings_alone(settings: Settings, namespace: str) -> Iterator[Settings]:
    """A catalog of its own: `omni dev` migrates and its monitor checks every tenant of its catalog
    at start, and the session's catalog holds every other test's tenants by the time this one runs."""
    mine = own_catalog(settings, f"{namespace}_dev")
    assert omni(mine, "migrate")[0] == 0
    yield mine
    drop_databases(settings.database_url.rsplit("/", 1)[0] + "/postgres", f"{namespace}_dev")


def test_omni_dev_runs_the_pipeline_and_stops_everything(settings_alone: Settings, tmp_path: Path) -> None:
    settings = settings_alone
    account = unique_digits()
    db_name = asyncio.run(provision(settings, "devrun", {"whatsapp": account})).db_name
    ingress_port, inbox_port = free_port(), free_port()
    health_base = free_ports(6)  # omni dev's health ports: base + offsets (commands/services.py)
    env = {
        **os.environ,
        "OMNI_DATABASE_URL": settings.database_url,
        "OMNI_RABBITMQ_URL": settings.rabbitmq_url,
        "OMNI_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "OMNI_META_APP_SECRETS": APP_SECRET,
        "OMNI_RETRY_DELAYS_MS": ",".join(map(str, settings.retry_delays_ms)),
        "OMNI_DELIVERY_LIMIT": str(settings.delivery_limit),
        "OMNI_INGRESS_PORT": str(ingress_port),
        "OMNI_INBOX_PORT": str(inbox_port),
        "OMNI_MEDIA_STORAGE": str(tmp_path / "media"),
        "OMNI_GRAPH_API_URL": f"http://127.0.0.1:{free_port()}/v21.0",
        "OMNI_MEDIA_HOSTS": "127.0.0.1",
        "OMNI_DEV_HEALTH_BASE": str(health_base),
    }
    omni = Path(sys.executable).with_name("omni")
    log_path = tmp_path / "dev.log"
    log_file = log_path.open("wb")  # a file, not a pipe: a full pipe would block the services
    dev = subprocess.Popen(
        [str(omni), "dev"], cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT
    )
    try:
        # Every process that carries the webhook must be up before it is sent: on a loaded CI
        # machine the workers' start-up (imports, broker and DB connections) can take tens of seconds.
        probes = [
            f"http://127.0.0.1:{health_base}/readyz",  # ingress-webhooks (its health port)
            f"http://127.0.0.1:{inbox_port}/healthz",
            f"http://127.0.0.1:{health_base + 1}/readyz",  # tenant-router
            f"http://127.0.0.1:{health_base + 2}/readyz",  # normalizer
        ]

        def not_ready() -> list[str]:
            down = []
            for url in probes:
                try:
                    if httpx.get(url, timeout=1).status_code != 200:
                        down.append(url)
                except httpx.HTTPError:
                    down.append(url)
            return down

        try:
            wait_until(lambda: not not_ready(), timeout=180, interval=0.2, what="services ready")
        except AssertionError:
            log_file.flush()
            raise AssertionError(
                f"not ready: {not_ready()}; omni dev said:\n{log_path.read_text()[-6000:]}"
            ) from None
        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) >= 6

        mid = f"wamid.dev-{unique_digits()}"
        body = orjson.dumps(
            samples.whatsapp_text(
                phone_number_id=account,
                waba_id="waba-dev",
                wa_id="15550001111",
                name="Dev Customer",
                text="hello from curl",
                message_id=mid,
                timestamp=int(time.time()),
            )
        )
        response = httpx.post(
            f"http://127.0.0.1:{ingress_port}/webhooks/whatsapp",
            content=body,
            headers={"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"},
        )
        assert response.status_code == 200

        def landed() -> bool:
            with psycopg.connect(libpq_conninfo(settings.database_url, database=db_name)) as conn:
                return bool(
                    conn.execute(
                        "SELECT 1 FROM chat_messages WHERE external_message_id = %s", (mid,)
                    ).fetchone()
                )

        try:
            wait_until(landed, timeout=60, what="the webhook's row in the tenant database")
        except AssertionError:
            log_file.flush()
            raise AssertionError(log_path.read_text()[-4000:]) from None
        # Workers expose health and metrics too (normalizer: base + 2).
        normalizer = f"http://127.0.0.1:{health_base + 2}"
        assert httpx.get(f"{normalizer}/readyz", timeout=5).status_code == 200
        metrics = httpx.get(f"{normalizer}/metrics", timeout=5).text
        assert 'omni_messages_handled_total{outcome="ok",queue="normalizer.events"}' in metrics
        router = httpx.get(f"http://127.0.0.1:{health_base + 1}/metrics", timeout=5).text
        ingress = httpx.get(f"http://127.0.0.1:{health_base}/metrics", timeout=5).text
        assert 'omni_webhooks_total{channel="whatsapp",outcome="accepted"} 1.0' in ingress
        assert httpx.get(f"http://127.0.0.1:{ingress_port}/metrics", timeout=5).status_code == 404
        assert 'omni_events_routed_total{channel="whatsapp",outcome="routed"} 1.0' in router
    finally:
        dev.send_signal(signal.SIGTERM)
        try:
            code = dev.wait(timeout=40)
        finally:
            if dev.poll() is None:
                dev.kill()
        log_file.close()
    assert code == 0, log_path.read_text()[-3000:]
    assert all(not c.is_running() or c.status() == psutil.STATUS_ZOMBIE for c in children)
