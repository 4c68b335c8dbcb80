"""``omni topology declare`` and ``omni dlq list/show/replay`` end to end, in a vhost of their own.

The CLI uses the real (unprefixed) queue names, so this test gets its own vhost rather than sharing
the session's with tests that may declare the same names.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
import structlog
from typer.testing import CliRunner

from omni_cli.main import app
from omni_common.broker import Publisher, build_topology, connect
from omni_common.contracts.routing import RAW_WEBHOOKS

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_env(settings, mgmt: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    base, session_vhost = settings.rabbitmq_url.rsplit("/", 1)
    name = f"{session_vhost}_cli"
    mgmt.put(f"/api/vhosts/{quote(name, safe='')}").raise_for_status()
    mgmt.put(
        f"/api/permissions/{quote(name, safe='')}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()
    url = f"{base}/{quote(name, safe='')}"
    monkeypatch.setenv("OMNI_RABBITMQ_URL", url)
    monkeypatch.setenv("OMNI_RETRY_DELAYS_MS", ",".join(map(str, settings.retry_delays_ms)))
    monkeypatch.setenv("OMNI_DELIVERY_LIMIT", str(settings.delivery_limit))
    # The CLI configures structlog onto CliRunner's captured stderr; later tests must not log there.
    saved = structlog.get_config()
    yield url
    structlog.configure(**saved)
    mgmt.delete(f"/api/vhosts/{quote(name, safe='')}")


def _dead_letter(url: str, topology, message_id: str, reason: str) -> None:
    async def main() -> None:
        conn = await connect(url, name="test-cli")
        pub = Publisher(conn)
        await pub.start()
        await pub.publish_to_queue(
            topology.stage(RAW_WEBHOOKS).dlq,
            b'{"id": "%s"}' % message_id.encode(),
            message_id=message_id,
            headers={
                "x-omni-dlq-reason": reason,
                "x-omni-dlq-detail": "boom",
                "x-omni-source-queue": topology.queue_name(RAW_WEBHOOKS),
                "x-omni-attempt": 3,
                "x-omni-routing-key": "webhook.raw.whatsapp",
            },
        )
        await pub.close()
        await conn.close()

    asyncio.run(main())


def _ready(url: str, queue: str) -> int:
    async def main() -> int:
        conn = await connect(url, name="test-cli")
        async with conn, conn.channel() as channel:
            q = await channel.declare_queue(queue, passive=True)
            return q.declaration_result.message_count or 0

    return asyncio.run(main())


def _listed(runner: CliRunner, *args: str) -> list[dict]:
    """The dead letters of ``omni dlq list --json``."""
    result = runner.invoke(app, ["dlq", "list", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["dead_letters"]


def test_declare_list_show_replay(cli_env: str, settings) -> None:
    runner = CliRunner()
    for _ in range(2):  # idempotent
        result = runner.invoke(app, ["topology", "declare"])
        assert result.exit_code == 0, result.output
    topology = build_topology(
        retry_delays_ms=settings.retry_delays_ms, delivery_limit=settings.delivery_limit
    )
    _dead_letter(cli_env, topology, "a-1", "invalid_payload")
    _dead_letter(cli_env, topology, "a-2", "unknown_tenant")

    _dead_letter(cli_env, topology, "a-3", "invalid_payload")

    listed = _listed(runner)
    assert sorted((i["id"], i["reason"]) for i in listed) == [
        ("a-1", "invalid_payload"),
        ("a-2", "unknown_tenant"),
        ("a-3", "invalid_payload"),
    ]
    # Counts per queue and reason, largest first, in the JSON document and at the end of the text.
    counts = json.loads(runner.invoke(app, ["dlq", "list", "--json"]).stdout)["counts"]
    assert counts == [
        {"queue": "ingress.raw.dlq", "reason": "invalid_payload", "count": 2},
        {"queue": "ingress.raw.dlq", "reason": "unknown_tenant", "count": 1},
    ]
    text = runner.invoke(app, ["dlq", "list", "--queue", RAW_WEBHOOKS]).output
    assert "a-1" in text
    summary = text.split("by queue and reason:")[1].splitlines()
    assert [line.split() for line in summary if line.strip()][:2] == [
        ["ingress.raw.dlq", "invalid_payload", "2"],
        ["ingress.raw.dlq", "unknown_tenant", "1"],
    ]
    assert "3 dead letter(s)." in text
    only = _listed(runner, "--reason", "unknown_tenant")
    assert [i["id"] for i in only] == ["a-2"]
    assert json.loads(runner.invoke(app, ["dlq", "list", "--reason", "unknown_tenant", "--json"]).stdout)[
        "counts"
    ] == [{"queue": "ingress.raw.dlq", "reason": "unknown_tenant", "count": 1}]
    assert runner.invoke(app, ["dlq", "purge", "a-3"]).exit_code == 0

    shown = json.loads(runner.invoke(app, ["dlq", "show", "a-1"]).stdout)
    assert shown["body"] == '{"id": "a-1"}'
    assert shown["source_queue"] == "ingress.raw"
    assert runner.invoke(app, ["dlq", "show", "nope"]).exit_code == 1

    assert runner.invoke(app, ["dlq", "replay"]).exit_code == 2  # neither ID nor --all
    dry = json.loads(runner.invoke(app, ["dlq", "replay", "--all", "--dry-run", "--json"]).stdout)
    assert len(dry["replayed"]) == 2
    result = runner.invoke(app, ["dlq", "replay", "--all", "--reason", "invalid_payload"])
    assert result.exit_code == 0, result.output
    assert "Replayed 1" in result.output
    left = _listed(runner)
    assert [i["id"] for i in left] == ["a-2"]
    assert _ready(cli_env, "ingress.raw") == 1
    result = runner.invoke(app, ["dlq", "replay", "a-2"])
    assert result.exit_code == 0, result.output
    empty = json.loads(runner.invoke(app, ["dlq", "list", "--json"]).stdout)
    assert empty == {"dead_letters": [], "counts": []}
    assert _ready(cli_env, "ingress.raw") == 2

    # Filters and purge: nothing is removed without an ID or --all, a dry run changes nothing.
    _dead_letter(cli_env, topology, "b-1", "malformed")
    _dead_letter(cli_env, topology, "b-2", "malformed")
    assert runner.invoke(app, ["dlq", "purge"]).exit_code == 2
    assert _listed(runner, "--channel", "instagram") == []
    whatsapp = _listed(runner, "--channel", "whatsapp")
    assert sorted(i["id"] for i in whatsapp) == ["b-1", "b-2"]
    assert _listed(runner, "--older-than", "1h") == []
    assert runner.invoke(app, ["dlq", "list", "--older-than", "7x"]).exit_code == 2
    dry = json.loads(
        runner.invoke(app, ["dlq", "purge", "--all", "--reason", "malformed", "--dry-run", "--json"]).stdout
    )
    assert sorted(i["id"] for i in dry["purged"]) == ["b-1", "b-2"]
    result = runner.invoke(app, ["dlq", "purge", "b-1", "--progress-every", "1"])
    assert result.exit_code == 0, result.output
    assert "Purged 1" in result.output
    assert "... purged 1 so far" in result.output  # long runs report progress (on stderr)
    assert [i["id"] for i in _listed(runner)] == ["b-2"]
