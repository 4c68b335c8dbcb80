"""Create or update each service's broker user and its permissions (RabbitMQ management HTTP API).

The admin step of ``omni broker setup``: every call is a PUT of the whole value, so running it again
changes nothing, and running it with a new password rotates that password (connections already open
keep working until they reconnect). Passwords are sent to the API and never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import structlog

from omni_common.broker.connection import connect
from omni_common.broker.permissions import Grant, service_grants, user_name
from omni_common.broker.topology import Topology, declare_topology
from omni_common.errors import OmniError
from omni_common.ops.queue_depth import management_endpoint

log = structlog.get_logger(__name__)


class BrokerSetupError(OmniError):
    """The management API refused or failed a step of the broker set-up."""


@dataclass(frozen=True)
class AppliedUser:
    """What the set-up did for one service."""

    service: str
    user: str
    tags: tuple[str, ...]


def _q(value: str) -> str:
    return quote(value, safe="")


async def apply_grants(
    api: httpx.AsyncClient,
    *,
    vhost: str,
    events_exchange: str,
    grants: Mapping[str, Grant],
    passwords: Mapping[str, str],
    user_prefix: str = "omni-",
) -> list[AppliedUser]:
    """Create/update the user of every service in ``passwords`` with its grant on ``vhost``.

    ``api``: a client whose base URL is the management API, authenticated as an administrator.
    Services without a broker user (``Grant.broker_user`` false) are skipped.
    """
    applied: list[AppliedUser] = []
    for service, password in passwords.items():
        grant = grants[service]
        if not grant.broker_user:
            continue
        user = user_name(service, user_prefix)
        await _put(api, f"/api/users/{_q(user)}", {"password": password, "tags": ",".join(grant.tags)})
        await _put(
            api,
            f"/api/permissions/{_q(vhost)}/{_q(user)}",
            {"configure": grant.configure, "write": grant.write, "read": grant.read},
        )
        # Replaced as a whole: a topic permission this version no longer grants must not linger.
        await _delete(api, f"/api/topic-permissions/{_q(vhost)}/{_q(user)}")
        if grant.topic_write is not None:
            await _put(
                api,
                f"/api/topic-permissions/{_q(vhost)}/{_q(user)}",
                {"exchange": events_exchange, "write": grant.topic_write, "read": "^$"},
            )
        log.info("broker_user_applied", service=service, user=user, vhost=vhost)
        applied.append(AppliedUser(service, user, grant.tags))
    return applied


async def _put(api: httpx.AsyncClient, path: str, body: object) -> None:
    response = await api.put(path, json=body)
    if response.status_code not in (200, 201, 204):
        raise BrokerSetupError(f"PUT {path}: {response.status_code} {response.text[:200]}")


async def _delete(api: httpx.AsyncClient, path: str) -> None:
    response = await api.delete(path)
    if response.status_code not in (200, 204, 404):
        raise BrokerSetupError(f"DELETE {path}: {response.status_code} {response.text[:200]}")


async def setup_broker(
    *,
    rabbitmq_url: str,
    management_url: str | None,
    topology: Topology,
    passwords: Mapping[str, str],
    user_prefix: str = "omni-",
) -> list[AppliedUser]:
    """The administrator's step: declare ``topology``, then apply every service's user and grant.

    ``rabbitmq_url`` carries the administrator's credentials and the vhost; the management API is
    ``management_url`` or the broker's host (``ops.queue_depth.management_endpoint``).
    """
    endpoint = management_endpoint(rabbitmq_url, management_url)
    if endpoint is None:
        raise BrokerSetupError(
            "the broker set-up needs the management API (OMNI_RABBITMQ_MANAGEMENT_URL is empty)"
        )
    connection = await connect(rabbitmq_url, name="omni-broker-setup")
    try:
        async with connection.channel() as channel:
            await declare_topology(channel, topology)
    finally:
        await connection.close()
    async with httpx.AsyncClient(
        base_url=endpoint.base_url, auth=(endpoint.username, endpoint.password), timeout=30
    ) as api:
        return await apply_grants(
            api,
            vhost=endpoint.vhost,
            events_exchange=topology.events_exchange,
            grants=service_grants(topology),
            passwords=passwords,
            user_prefix=user_prefix,
        )
