"""Fault 6 of issue 7: over 10,000 malformed deliveries against the live ingress and router.

Hypothesis draws the deliveries (derandomized: the same ones on every run). Each must be refused
by the ingress (401 unsigned or badly signed, 413 oversized) or, once accepted, dead-lettered with a
reason by the router; the expected number of dead letters per accepted delivery comes from the same
pure splitter the router runs. Valid webhooks sent alongside must all land, and no process may fall.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from chaos_load import CHANNELS, Background, LoadRun, audit, landed_count, make_hooks
from chaos_report import report
from chaos_stack import Stack, chaos_stack
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pipeline import sign, wait_until
from testenv import APP_SECRET

from omni_common.broker.headers import DLQ_REASON
from omni_common.channels import samples
from omni_common.channels.inbound import MalformedDelivery, split_delivery
from omni_common.contracts.routing import RAW_WEBHOOKS, ROUTED_EVENTS

# Bounded, but above the suite-wide 300 s: 10,000 requests on a shared 2-core box.
pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(600)]

MAX_BODY = 16 * 1024  # the fuzz stack's OMNI_MAX_BODY_BYTES: oversized bodies stay cheap to send
BATCH = 50
EXAMPLES = 210  # x BATCH = 10,500 deliveries
VALID = 1_000


@pytest.fixture(scope="module")
def stack(services, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with chaos_stack(
        services,
        namespace,
        tmp_path_factory.mktemp("chaos-fuzz"),
        label="chf",
        tenants=20,
        processes={"tenant-router": 1, "normalizer": 1},
        OMNI_MAX_BODY_BYTES=str(MAX_BODY),
        OMNI_PREFETCH="100",
    ) as made:
        yield made


@dataclass(frozen=True)
class Fuzz:
    kind: str
    channel: str
    body: bytes
    signing: str  # signed | unsigned | badsig


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Account ids no tenant connected: whatever survives parsing is refused as unmapped, never stored.
fake_account = st.integers(min_value=10**15, max_value=10**16 - 1).map(str)


@st.composite
def valid_shaped(draw: st.DrawFn, channel: str) -> dict[str, Any]:
    account = draw(fake_account)
    if channel == "whatsapp":
        return samples.whatsapp_text(
            phone_number_id=account,
            waba_id="waba-fuzz",
            wa_id="15550000000",
            name="Fuzz",
            text=draw(st.text(max_size=30)),
            message_id=f"wamid.fuzz-{draw(st.integers(0, 10**9))}",
            timestamp=1_760_000_000,
        )
    return samples.messaging_text(
        channel,
        account_id=account,
        user_id="psid-fuzz",
        text=draw(st.text(max_size=30)),
        mid=f"m_fuzz-{draw(st.integers(0, 10**9))}",
        timestamp_ms=1_760_000_000_000,
    )


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: _replace(doc[head], rest, value)}
    copy = list(doc)
    copy[head] = _replace(copy[head], rest, value)
    return copy


@st.composite
def fuzz_delivery(draw: st.DrawFn) -> Fuzz:
    channel = draw(st.sampled_from(CHANNELS))
    kind = draw(st.sampled_from(["garbage", "truncated", "nested", "wrong_typed", "envelope", "oversized"]))
    if kind == "garbage":
        body = draw(st.binary(max_size=300))
    elif kind == "truncated":
        full = orjson.dumps(draw(valid_shaped(channel)))
        body = full[: draw(st.integers(0, len(full) - 1))]
    elif kind == "nested":
        depth = draw(st.integers(20, 2_000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        inner = opener * depth + b"1" + closer * depth
        body = b'{"object":"page","entry":' + inner + b"}" if draw(st.booleans()) else inner
    elif kind == "wrong_typed":
        doc = draw(valid_shaped(channel))
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(_paths(doc)))
            doc = _replace(doc, path, draw(json_value))
        body = json.dumps(doc).encode()  # stdlib: integers beyond 64 bits, Infinity
    elif kind == "envelope":
        body = json.dumps(
            {
                "object": draw(
                    st.one_of(st.sampled_from(["page", "instagram", "whatsapp_business_account"]), json_value)
                ),
                "entry": draw(st.one_of(json_value, st.lists(json_value, max_size=5))),
            }
        ).encode()
    else:
        body = b'{"object":"page","pad":"' + b"x" * draw(st.integers(MAX_BODY, MAX_BODY + 4096)) + b'"}'
    signing = draw(st.sampled_from(["signed", "signed", "signed", "unsigned", "badsig"]))
    return Fuzz(kind, channel, body, signing)


def expected_dead_letters(fuzz: Fuzz) -> int:
    """Dead letters the router must produce for an accepted delivery (its own pure splitter decides)."""
    try:
        split = split_delivery(fuzz.channel, fuzz.body)
    except MalformedDelivery:
        return 1
    return len(split.rejects) + len(split.items)  # every item's account is unmapped


def expected_status(fuzz: Fuzz) -> int:
    if len(fuzz.body) > MAX_BODY:
        return 413
    return 200 if fuzz.signing == "signed" else 401


async def _post(url: str, batch: list[Fuzz]) -> list[tuple[Fuzz, int]]:
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(fuzz: Fuzz) -> tuple[Fuzz, int]:
            headers = {"Content-Type": "application/json"}
            if fuzz.signing == "signed":
                headers["X-Hub-Signature-256"] = sign(fuzz.body, APP_SECRET)
            elif fuzz.signing == "badsig":
                headers["X-Hub-Signature-256"] = sign(fuzz.body, "not-the-secret")
            response = await client.post(f"{url}/webhooks/{fuzz.channel}", content=fuzz.body, headers=headers)
            return fuzz, response.status_code

        return list(await asyncio.gather(*(one(f) for f in batch)))


def test_fuzzed_deliveries_are_refused_or_dead_lettered(stack: Stack) -> None:
    tag = f"fz{secrets.token_hex(3)}"
    valid = LoadRun(make_hooks(stack.tenants, VALID, tag))
    started = time.monotonic()
    load = Background(stack.ingress, valid, APP_SECRET, concurrency=4, pace_s=0.05).start()
    sent: list[tuple[Fuzz, int]] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(fuzz_delivery(), min_size=BATCH, max_size=BATCH))
    def fire(batch: list[Fuzz]) -> None:
        sent.extend(asyncio.run(_post(stack.ingress, batch)))

    fire()
    load.join(timeout=300)
    assert len(sent) >= 10_000, len(sent)
    wrong = [(f.kind, f.signing, len(f.body), s) for f, s in sent if s != expected_status(f)]
    assert not wrong, f"{len(wrong)} unexpected answers, e.g. {wrong[:5]}"
    accepted = [f for f, s in sent if s == 200]
    expected = sum(expected_dead_letters(f) for f in accepted)

    def drained() -> bool:
        queues = [
            q
            for s in stack.topology.stages
            if s.queue in (RAW_WEBHOOKS, ROUTED_EVENTS)
            for q in (s.queue, *s.retry_queues)
        ]
        depth = stack.depths(*queues, stack.topology.stage(RAW_WEBHOOKS).dlq)
        return (
            all(depth[q] == 0 for q in queues) and depth[stack.topology.stage(RAW_WEBHOOKS).dlq] >= expected
        )

    wait_until(
        drained, timeout=240, interval=1, what=f"{expected} dead letters from {len(accepted)} accepted"
    )
    dlq = stack.topology.stage(RAW_WEBHOOKS).dlq
    assert stack.depths(dlq)[dlq] == expected
    letters = stack.dead_letter_headers(dlq, expected)
    reasons = Counter(str(h.get(DLQ_REASON) or "") for h in letters)
    assert "" not in reasons, reasons
    assert not [r for r in reasons if r == "delivery_limit" or r.startswith("error:")], reasons
    assert not stack.dead_letters(ROUTED_EVENTS)
    assert not stack.fleet.dead(), stack.fleet.tail()
    for name in stack.fleet.procs:
        assert stack.fleet.ready(name), f"{name} not ready after the fuzz run\n{stack.fleet.tail(name)}"
    wait_until(
        lambda: landed_count(stack.pg_url, stack.tenants, tag) >= len(valid.ok()),
        timeout=120,
        interval=0.5,
        what="the interleaved valid webhooks",
    )
    result = audit(stack.pg_url, stack.tenants, valid, tag)
    assert valid.statuses() == {"200": VALID}, valid.statuses()
    assert not result.lost, result
    assert not result.duplicated, result
    assert not result.misplaced, result
    assert not result.unexpected, result
    report(
        "fuzz",
        fuzzed=len(sent),
        answers=dict(Counter(str(s) for _, s in sent)),
        kinds=dict(Counter(f.kind for f, _ in sent)),
        accepted=len(accepted),
        dead_lettered=len(letters),
        dead_letter_reasons=dict(reasons),
        valid_sent=VALID,
        valid_stored=result.landed_ok,
        lost=len(result.lost),
        duplicated=len(result.duplicated),
        crashed_processes=0,
        seconds=round(time.monotonic() - started, 1),
    )
