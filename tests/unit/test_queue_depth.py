"""Where a worker reads queue depths: the management API derived from the AMQP URL, or given."""

from __future__ import annotations

from omni_common.ops.queue_depth import ManagementEndpoint, management_endpoint


def test_derived_from_the_amqp_url() -> None:
    assert management_endpoint("amqp://guest:guest@127.0.0.1:5672/", None) == ManagementEndpoint(
        "http://127.0.0.1:15672", "/", "guest", "guest"
    )
    ep = management_endpoint("amqps://omni:p%40ss@mq.internal:5671/omni_prod", None)
    assert ep == ManagementEndpoint("https://mq.internal:15671", "omni_prod", "omni", "p@ss")
    assert management_endpoint("amqp://rabbitmq/%2F", None) == ManagementEndpoint(
        "http://rabbitmq:15672", "/", "guest", "guest"
    )


def test_given_url_and_its_credentials_win_and_empty_turns_it_off() -> None:
    ep = management_endpoint("amqp://app:secret@mq:5672/v1", "https://ops:watch@mgmt.example:443/rabbit/")
    assert ep == ManagementEndpoint("https://mgmt.example:443/rabbit", "v1", "ops", "watch")
    ep = management_endpoint("amqp://app:secret@mq:5672/v1", "http://mgmt:15672")
    assert ep == ManagementEndpoint("http://mgmt:15672", "v1", "app", "secret")
    assert management_endpoint("amqp://app:secret@mq:5672/v1", "") is None
    assert "secret" not in repr(ep)  # the password stays out of logs and tracebacks
