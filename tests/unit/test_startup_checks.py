"""A production service refuses RabbitMQ's default guest/guest; development may use it."""

from __future__ import annotations

import pytest

from omni_common.settings import Settings
from omni_common.startup_checks import default_broker_credentials, refuse_unsafe_settings, unsafe_settings


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:guest@127.0.0.1:5672/",
        "amqp://127.0.0.1:5672/",  # no credentials: the client sends guest/guest
        "amqp://omni-normalizer:s3cret@node-1:5672/,amqp://guest:guest@node-2:5672/",
        "amqps://gu%65st:guest@broker.internal/omni",
    ],
)
def test_production_refuses_the_default_user(url: str) -> None:
    reason = default_broker_credentials("production", url)
    assert reason is not None
    assert "guest" in reason
    assert "omni broker setup" in reason


@pytest.mark.parametrize(
    "url",
    [
        "amqp://omni-normalizer:s3cret@127.0.0.1:5672/",
        "amqp://guest:another-password@127.0.0.1:5672/",
        "amqp://omni-inbox-api:s3cret@node-1/,amqp://omni-inbox-api:s3cret@node-2/",
    ],
)
def test_production_accepts_a_user_of_its_own(url: str) -> None:
    assert default_broker_credentials("production", url) is None


def test_development_may_use_the_default_user() -> None:
    assert default_broker_credentials("development", "amqp://guest:guest@127.0.0.1:5672/") is None


def test_the_refusal_names_the_service_and_never_the_password() -> None:
    settings = Settings(_env_file=None, env="production", rabbitmq_url="amqp://guest:guest@127.0.0.1:5672/")
    assert unsafe_settings(settings)
    with pytest.raises(SystemExit) as exc:
        refuse_unsafe_settings("tenant-router", settings)
    assert str(exc.value).startswith("tenant-router refuses to start: ")


def test_default_settings_are_production_and_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a service started with no OMNI_ENV and no broker URL gets (so compose and k8s set both)."""
    monkeypatch.delenv("OMNI_ENV", raising=False)
    monkeypatch.delenv("OMNI_RABBITMQ_URL", raising=False)
    assert unsafe_settings(Settings(_env_file=None))
    refuse_unsafe_settings("inbox-api", Settings(_env_file=None, env="development"))
