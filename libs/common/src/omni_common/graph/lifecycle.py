"""The Graph calls of the token lifecycle: renew a user token, read and restore our app's subscription.

- ``exchange_token``: ``GET /oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret
  &fb_exchange_token=`` → ``{"access_token", "token_type", "expires_in"}`` (about 60 days).
  Meta documents only this form (the token and the secret in the query): no bearer header is sent,
  httpx's request log is silenced (``omni_common.logging``), and our logs never carry the URL.
  https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived
- ``subscribed_apps`` / ``subscribe``: ``GET|POST /{page-id|waba-id}/subscribed_apps`` with the
  account's token (a Page's needs ``subscribed_fields``). Which answer counts as subscribed is
  ``omni_common.domain.subscriptions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from omni_common.graph.client import GraphClient, _seg
from omni_common.graph.errors import ErrorClass, GraphError


@dataclass(frozen=True)
class Exchanged:
    """A renewed token and when it expires (None: Meta gave no ``expires_in``)."""

    token: str
    expires_at: datetime | None


async def exchange_token(
    graph: GraphClient, token: str, *, app_id: str, app_secret: str, now: datetime
) -> Exchanged:
    """Swap a valid user token for a fresh long-lived one; GraphError when Meta refuses."""
    data = await graph.request_json(
        "GET",
        "oauth/access_token",
        None,
        params={
            "grant_type": "fb_exchange_token",
            "client_id": app_id,
            "client_secret": app_secret,
            "fb_exchange_token": token,
        },
    )
    fresh = data.get("access_token")
    if not isinstance(fresh, str) or not fresh:
        raise GraphError("the exchange answered without a token", error_class=ErrorClass.TRANSIENT)
    expires_in = data.get("expires_in")
    expires_at = (
        now + timedelta(seconds=expires_in) if isinstance(expires_in, int) and expires_in > 0 else None
    )
    return Exchanged(fresh, expires_at)


async def subscribed_apps(graph: GraphClient, object_id: str, token: str) -> list[dict[str, Any]]:
    """The apps subscribed to a Page's or WABA's webhooks (``data`` of ``subscribed_apps``)."""
    data = await graph.request_json("GET", f"{_seg(object_id)}/subscribed_apps", token)
    listing = data.get("data")
    return [a for a in listing if isinstance(a, dict)] if isinstance(listing, list) else []


async def subscribe(graph: GraphClient, object_id: str, token: str, fields: tuple[str, ...] = ()) -> None:
    """Subscribe our app (the token's) to the object; ``fields``: a Page's webhook fields."""
    params = {"subscribed_fields": ",".join(fields)} if fields else None
    await graph.request_json("POST", f"{_seg(object_id)}/subscribed_apps", token, params=params)
