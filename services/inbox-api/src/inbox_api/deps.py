"""The collaborators of the inbox app, built by ``main`` (or a test) and passed to ``create_app``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: keeps this module free of import cycles
    from argon2 import PasswordHasher

    from inbox_api.adapters import EventHub, SuggestionClient
    from inbox_api.auth.client_ip import Network
    from inbox_api.auth.sessions import TokenSigner
    from inbox_api.auth.throttle import LoginThrottle
    from inbox_api.connect.meta import FacebookLogin
    from inbox_api.push.sender import PushNotifier
    from inbox_api.wa_templates.syncer import TemplateSyncer
    from omni_common.broker.publisher import Publisher
    from omni_common.crypto import KeyRing
    from omni_common.db.catalog import Catalog
    from omni_common.db.registry import TenantEngineRegistry
    from omni_common.media.storage import MediaStorage


@dataclass
class InboxDeps:
    """Everything a request handler may use; no settings object, no module-level clients."""

    catalog: Catalog
    registry: TenantEngineRegistry
    keyring: KeyRing
    storage: MediaStorage
    publisher: Publisher
    hub: EventHub
    signer: TokenSigner
    hasher: PasswordHasher
    login_throttle: LoginThrottle
    ready: Callable[[], bool]
    cookie_secure: bool = False
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-For is believed
    hsts: bool = False  # served over HTTPS (OMNI_PUBLIC_URL is https): browsers told to keep to it
    heartbeat_s: float = 15.0
    session_recheck_s: float = 30.0  # an open event stream re-checks its session this often
    suggester: SuggestionClient | None = None  # None: suggestions answer "no suggestion"
    # (channel, account id, token, WABA id) -> the account's display name once the token is proven
    # to be the account owner's (domain.ownership); CredentialsRefused (OwnershipRefused) with the
    # reason, GraphError when Meta cannot be reached. None (development only): saved unchecked.
    verify: Callable[[str, str, str, str | None], Awaitable[str]] | None = None
    # (channel, PSID/IGSID, token) -> Meta's public profile (name, username): the customer panel asks
    # it for a Messenger/Instagram customer still without a name. None: no lookups.
    profiles: Callable[[str, str, str], Awaitable[dict[str, Any]]] | None = None
    # WhatsApp template syncs in the background (on connect, on demand); None: not set up.
    templates: TemplateSyncer | None = None
    # Web Push alerts (``push/sender.py``), fed by the hub; None: no pushes. Endpoints a browser may
    # register (``push/endpoints.py``; none: every subscription is refused).
    push: PushNotifier | None = None
    push_endpoint_hosts: tuple[str, ...] = ()
    # "Continue with Facebook" (connect/): the Meta app's login settings; None: the button is hidden.
    facebook: FacebookLogin | None = None
