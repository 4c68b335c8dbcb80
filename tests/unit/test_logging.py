"""``configure_logging(json=True)``: one JSON object per line with the bound context, never a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from omni_common.logging import _redact, configure_logging

SECRETS = ("EAAGm0PX4ZCpsBAKZAt0k3n", "s3cr3t-app-value", "hunter2-password", "sk-live-openai-123")


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """The JSON lines written to stderr; structlog's configuration is restored afterwards."""
    saved = structlog.get_config()

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]

    try:
        yield lines
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.configure(**saved)


def configure() -> None:
    # In the test itself: stderr is pytest's capture only once the test runs (not during set-up).
    configure_logging(service="normalizer", json=True, level="INFO")


def test_json_lines_carry_service_event_and_bound_context(json_logs: Any) -> None:
    configure()
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(
        tenant_id="0b6f4c1e-2f57-4c8e-9a39-5b1f7e0c9d11", channel="whatsapp", correlation_id="d41d8cd98f00"
    ):
        log.info("event_stored", chat_message_id="m-1", external_message_id="wamid.1")
    log.debug("not_shown")  # below the configured level
    log.warning("unbound_again")
    first, second = json_logs()
    assert first["service"] == "normalizer"
    assert first["event"] == "event_stored"
    assert first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert (first["tenant_id"], first["channel"], first["correlation_id"]) == (
        "0b6f4c1e-2f57-4c8e-9a39-5b1f7e0c9d11",
        "whatsapp",
        "d41d8cd98f00",
    )
    assert (first["chat_message_id"], first["external_message_id"]) == ("m-1", "wamid.1")
    assert second["event"] == "unbound_again"
    assert "correlation_id" not in second
    assert second["service"] == "normalizer"


def test_tokens_and_secrets_never_reach_the_log(json_logs: Any) -> None:
    token, app_secret, password, api_key = SECRETS
    configure()
    log = structlog.get_logger("test")
    log.info(
        "graph_call",
        access_token=token,
        Authorization=f"Bearer {token}",
        app_secret=app_secret,
        meta_app_secrets=f"{app_secret},older-secret",
        password=password,
        openai_api_key=api_key,
        headers={"authorization": f"Bearer {token}", "accept": "application/json"},
        detail=f"GET https://graph.facebook.com/v21.0/debug_token?input_token={token}&access_token=1|{app_secret}",
        error=f"401 for Bearer {token}",
        attempts=[{"client_secret": app_secret}],
    )
    try:
        raise RuntimeError(f"Graph said no to https://graph.facebook.com/me?access_token={token}")
    except RuntimeError:
        log.exception("graph_failed")
    lines = json_logs()
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in SECRETS:
        assert secret not in text
    call = lines[0]
    assert call["access_token"] == call["Authorization"] == call["app_secret"] == "[redacted]"
    assert call["headers"] == {"authorization": "[redacted]", "accept": "application/json"}
    assert call["detail"].startswith(
        "GET https://graph.facebook.com/v21.0/debug_token?input_token=[redacted]"
    )
    assert call["error"] == "401 for Bearer [redacted]"
    assert "RuntimeError" in lines[1]["exception"]  # the traceback is kept, only the token goes


def test_key_names_that_are_not_secrets_stay_readable() -> None:
    event = {
        "event": "x",
        "routing_key": "ingress.raw.whatsapp",
        "key_id": "k2",
        "api_key": "sk-1",
        "keys": "a,b",
    }
    out = _redact(None, "info", dict(event))
    assert out["routing_key"] == "ingress.raw.whatsapp"
    assert out["key_id"] == "k2"
    assert out["api_key"] == "[redacted]"
    assert out["keys"] == "[redacted]"


def test_redaction_ignores_case_looks_inside_json_text_and_at_any_depth(json_logs: Any) -> None:
    token, app_secret, password, api_key = SECRETS
    configure()
    nested: dict[str, Any] = {"value": f"bearer {token}"}
    for _ in range(10):
        nested = {"level": nested}
    structlog.get_logger("test").warning(
        "graph_failed",
        detail=f"authorization: bearer {token}",
        body=f'{{"error": {{"message": "bad"}}, "access_token": "{token}", "password": "{password}"}}',
        raw_token_in_text=f"page token {token} was refused",
        openai=f"key {api_key} rejected",
        deep=nested,
        payload=f'{{"client_secret":"{app_secret}"}}'.encode(),
    )
    text = "\n".join(json.dumps(line) for line in json_logs())
    for secret in SECRETS:
        assert secret not in text
    assert "bad" in text  # the rest of the message stays readable


def test_standard_library_loggers_are_redacted_and_formatted_alike(json_logs: Any) -> None:
    import logging

    token = SECRETS[0]
    configure()
    logging.getLogger("uvicorn.error").error("request failed: Authorization: Bearer %s", token)
    logging.getLogger("aiormq.connection").warning("lost connection to amqp://guest:%s@host", token)
    lines = json_logs()
    assert [line["logger"] for line in lines] == ["uvicorn.error", "aiormq.connection"]
    assert all(line["service"] == "normalizer" for line in lines)
    assert token not in json.dumps(lines)


def test_routine_numbers_that_look_like_parameters_stay(json_logs: Any) -> None:
    configure()
    structlog.get_logger("test").warning("handler_retry", detail="code=613 subcode=2446079")
    (line,) = json_logs()
    assert line["detail"] == "code=613 subcode=2446079"
