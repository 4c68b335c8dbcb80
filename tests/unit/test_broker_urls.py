"""OMNI_RABBITMQ_URL as one URL or a comma-separated list of cluster nodes; where depths are read."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_common.broker.cluster import BrokerUrlError, broker_urls, node_label
from omni_common.ops.queue_depth import ManagementEndpoint, management_endpoint

NODES = "amqp://omni:pw@mq-0:5672/prod,amqp://omni:pw@mq-1:5672/prod, amqp://omni:pw@mq-2:5672/prod"


def test_one_url_is_a_list_of_one() -> None:
    assert broker_urls("amqp://guest:guest@127.0.0.1:5672/") == ["amqp://guest:guest@127.0.0.1:5672/"]
    assert broker_urls(["amqp://a/v", "amqp://b/v"]) == ["amqp://a/v", "amqp://b/v"]


def test_a_comma_separated_list_is_one_url_per_node() -> None:
    assert broker_urls(NODES) == [
        "amqp://omni:pw@mq-0:5672/prod",
        "amqp://omni:pw@mq-1:5672/prod",
        "amqp://omni:pw@mq-2:5672/prod",
    ]
    assert [node_label(u) for u in broker_urls(NODES)] == ["mq-0:5672", "mq-1:5672", "mq-2:5672"]


def test_commas_inside_a_url_stay_in_it() -> None:
    # A comma is legal in a URL's password and query; only a comma before a scheme starts a new URL.
    urls = broker_urls("amqps://omni:a,b@mq-0/v?name=x,y,AMQPS://omni:a,b@mq-1/v")
    assert urls == ["amqps://omni:a,b@mq-0/v?name=x,y", "AMQPS://omni:a,b@mq-1/v"]


def test_the_default_vhost_may_be_written_either_way() -> None:
    assert len(broker_urls("amqp://mq-0/,amqp://mq-1/%2F,amqp://mq-2")) == 3


def test_nodes_of_different_vhosts_or_none_are_refused() -> None:
    with pytest.raises(BrokerUrlError, match="different vhosts"):
        broker_urls("amqp://mq-0/a,amqp://mq-1/b")
    with pytest.raises(BrokerUrlError):
        broker_urls(" ")


hosts = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
secrets_ = st.text(st.characters(codec="ascii", categories=["L", "N", "P", "S"]), min_size=1, max_size=12)


@given(st.lists(st.tuples(hosts, st.integers(1, 65535), secrets_), min_size=1, max_size=5))
def test_any_list_of_node_urls_splits_back_into_itself(nodes: list[tuple[str, int, str]]) -> None:
    # Passwords as an operator would write them: percent-encoded where a URL needs it, commas kept.
    urls = [f"amqp://omni:{quote(pw, safe=',')}@{host}:{port}/prod" for host, port, pw in nodes]
    assert broker_urls(",".join(urls)) == urls


def test_management_api_of_every_node_in_order() -> None:
    ep = management_endpoint(NODES, None)
    assert ep == ManagementEndpoint(
        "http://mq-0:15672", "prod", "omni", "pw", ("http://mq-1:15672", "http://mq-2:15672")
    )
    assert ep is not None
    assert ep.base_urls == ("http://mq-0:15672", "http://mq-1:15672", "http://mq-2:15672")


def test_given_management_urls_for_a_cluster() -> None:
    ep = management_endpoint(NODES, "http://ops:watch@mgmt-0:15672,http://mgmt-1:15672/")
    assert ep == ManagementEndpoint("http://mgmt-0:15672", "prod", "ops", "watch", ("http://mgmt-1:15672",))
    # One management URL (a load balancer in front of the nodes) stays one.
    ep = management_endpoint(NODES, "https://mq.example/")
    assert ep == ManagementEndpoint("https://mq.example", "prod", "omni", "pw")
    assert management_endpoint(NODES, "") is None
