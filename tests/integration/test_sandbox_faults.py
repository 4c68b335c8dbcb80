"""Injected Meta failures reach GraphClient callers as correctly classified GraphErrors."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sandbox_server import SandboxControl, free_port

from meta_sandbox import SandboxConfig
from omni_common.graph import ErrorClass, GraphClient, GraphError, plain_reason


@pytest.fixture(scope="module")
def sandbox_config() -> SandboxConfig:
    # A timeout fault hangs until the client gives up; the cap only matters if a client never does.
    return SandboxConfig(timeout_fault_s=5.0)


@pytest.fixture
def http_timeout() -> httpx.Timeout:
    return httpx.Timeout(5.0, read=0.3)


async def _failed_send(
    graph: GraphClient, channel: str, account_id: str, token: str, to: str = "15550001"
) -> GraphError:
    with pytest.raises(GraphError) as info:
        await graph.send_message(channel, account_id, token, to=to, text="hello")
    return info.value


class TestInjectedErrors:
    async def test_throughput_limit_is_rate_limit_with_regain_time(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        await ctl.add_fault(130429, match={"account_id": account_id}, regain_minutes=7)
        err = await _failed_send(graph, "whatsapp", account_id, token)
        assert (err.code, err.http_status, err.error_class) == (130429, 429, ErrorClass.RATE_LIMIT)
        assert err.retryable
        assert err.usage is not None
        assert err.usage.throttled
        assert err.usage.regain_access_minutes == 7
        assert err.retry_after_s == 420
        assert err.details  # WhatsApp's error_data.details
        # count=1: the next send goes through.
        await graph.send_message("whatsapp", account_id, token, to="15550001", text="again")

    async def test_app_limit_reports_x_app_usage(self, ctl: SandboxControl, graph: GraphClient) -> None:
        page_id, token = await ctl.add_account("facebook")
        await ctl.add_fault(4, match={"account_id": page_id})
        err = await _failed_send(graph, "facebook", page_id, token, to="PSID")
        assert err.error_class is ErrorClass.RATE_LIMIT
        assert err.usage is not None
        assert err.usage.max_percent == 100

    async def test_pair_rate_limit_hits_only_the_matched_recipient(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        await ctl.add_fault(131056, match={"account_id": account_id, "recipient": "+15550002"}, count=5)
        await graph.send_message("whatsapp", account_id, token, to="15550001", text="other customer")
        err = await _failed_send(graph, "whatsapp", account_id, token, to="15550002")
        assert err.error_class is ErrorClass.PAIR_RATE_LIMIT

    @pytest.mark.parametrize(
        ("channel", "code", "subcode", "status", "expected"),
        [
            ("whatsapp", 190, None, 401, ErrorClass.AUTH),
            ("whatsapp", 131047, None, 400, ErrorClass.OUTSIDE_WINDOW),
            ("facebook", 10, 2018278, 403, ErrorClass.OUTSIDE_WINDOW),
            ("whatsapp", 131026, None, 400, ErrorClass.RECIPIENT_UNAVAILABLE),
            ("whatsapp", 131048, None, 400, ErrorClass.SPAM_LIMIT),
            ("instagram", 1, None, 500, ErrorClass.TRANSIENT),
            ("facebook", 2, None, 503, ErrorClass.TRANSIENT),
            ("whatsapp", 131000, None, 500, ErrorClass.TRANSIENT),
            ("facebook", 80006, None, 429, ErrorClass.RATE_LIMIT),
            ("whatsapp", 80007, None, 429, ErrorClass.RATE_LIMIT),
            ("facebook", 1, 1357046, 500, ErrorClass.AMBIGUOUS),
            ("instagram", 100, None, 400, ErrorClass.BAD_REQUEST),
        ],
    )
    async def test_error_codes_are_classified(
        self,
        ctl: SandboxControl,
        graph: GraphClient,
        channel: str,
        code: int,
        subcode: int | None,
        status: int,
        expected: ErrorClass,
    ) -> None:
        account_id, token = await ctl.add_account(channel)
        await ctl.add_fault(code, error_subcode=subcode, match={"account_id": account_id})
        err = await _failed_send(graph, channel, account_id, token)
        assert (err.code, err.subcode, err.http_status, err.error_class) == (code, subcode, status, expected)
        assert err.fbtrace_id
        assert plain_reason(err)

    async def test_http_status_can_be_overridden_without_changing_the_class(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        await ctl.add_fault(130429, http_status=400, match={"account_id": account_id})
        err = await _failed_send(graph, "whatsapp", account_id, token)
        assert (err.http_status, err.error_class) == (400, ErrorClass.RATE_LIMIT)


class TestNetworkFailures:
    async def test_read_timeout_on_send_is_ambiguous_and_meta_still_sent_it(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        account_id, token = await ctl.add_account("whatsapp")
        await ctl.add_fault(0, mode="timeout", match={"account_id": account_id})
        err = await _failed_send(graph, "whatsapp", account_id, token)
        assert err.error_class is ErrorClass.AMBIGUOUS
        assert err.request_sent is None
        assert isinstance(err.__cause__, httpx.ReadTimeout)
        # The sandbox answers once it notices the client left: the message exists on "Meta's" side.
        async with asyncio.timeout(5):
            while not [m for m in (await ctl.get("/sent")).values() if m["account_id"] == account_id]:
                await asyncio.sleep(0.02)

    async def test_read_timeout_on_a_read_is_transient(self, ctl: SandboxControl, graph: GraphClient) -> None:
        page_id, token = await ctl.add_account("facebook")
        await ctl.add_fault(0, mode="timeout", match={"account_id": page_id, "method": "GET"})
        with pytest.raises(GraphError) as info:
            await graph.get_account("facebook", page_id, token)
        assert info.value.error_class is ErrorClass.TRANSIENT

    async def test_connection_dropped_mid_answer_is_ambiguous(
        self, ctl: SandboxControl, graph: GraphClient
    ) -> None:
        page_id, token = await ctl.add_account("facebook")
        await ctl.add_fault(0, mode="reset", match={"account_id": page_id})
        err = await _failed_send(graph, "facebook", page_id, token, to="PSID")
        assert err.error_class is ErrorClass.AMBIGUOUS
        assert isinstance(err.__cause__, httpx.TransportError)

    async def test_connect_error_is_transient_and_surely_not_sent(self, http: httpx.AsyncClient) -> None:
        graph = GraphClient(http, f"http://127.0.0.1:{free_port()}/v21.0")
        err = await _failed_send(graph, "whatsapp", "123", "EAAtoken")
        assert err.error_class is ErrorClass.TRANSIENT
        assert err.request_sent is False
        assert "EAAtoken" not in str(err)
