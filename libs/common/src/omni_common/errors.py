"""Errors shared by the services.

OmniError
 ├── TenantError
 │    ├── TenantNotFound        no such tenant in the catalog
 │    ├── TenantNotActive       tenant exists but is provisioning/suspended/failed
 │    └── NoTenantContext       tenant data used without a resolved tenant
 ├── DatabaseUnavailable       a tenant database stayed full, busy or down for the whole wait
 │    ├── ConnectionBudgetExhausted   this process's connections to the server all stayed in use
 │    └── TenantHeld            the tenant's database is being moved: its writes wait
 ├── AccountConflict           platform account already mapped to another tenant
 └── DecryptionError           ciphertext not readable with this key ring / binding
"""

from __future__ import annotations


class OmniError(Exception):
    """Base of every error this project raises on purpose."""


class TenantError(OmniError):
    """Something about a tenant prevents the operation."""


class TenantNotFound(TenantError):
    """The catalog has no tenant with that id or slug."""


class TenantNotActive(TenantError):
    """The tenant exists but is not ``active``."""


class NoTenantContext(TenantError):
    """Tenant data was requested without a resolved tenant: there is no default tenant."""


class AccountConflict(OmniError):
    """The platform account id is already connected to another tenant."""


class DecryptionError(OmniError):
    """A ciphertext could not be decrypted: wrong key ring, or moved to another row or tenant."""


class DatabaseUnavailable(OmniError):
    """A tenant database could not be used within the wait allowed: the server is full, busy or down.

    Transient by nature: the inbox answers 503 with ``Retry-After``, workers retry through their
    delay queues. ``retry_after_s`` is a hint for the caller's answer.
    """

    retry_after_s: int = 5


class ConnectionBudgetExhausted(DatabaseUnavailable):
    """Every connection this process may hold to the server stayed in use for the whole wait."""


class TenantHeld(DatabaseUnavailable):
    """The tenant's database is being moved to another server (``omni tenant move``): its writes wait.

    Workers put the event back through their delay queue without spending a retry (``reasons.HELD``):
    a move takes as long as it takes, and its events must never reach a dead-letter queue.
    """

    retry_after_s = 10
