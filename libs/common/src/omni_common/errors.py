"""Errors shared by the services.

OmniError
 ├── TenantError
 │    ├── TenantNotFound        no such tenant in the catalog
 │    ├── TenantNotActive       tenant exists but is provisioning/suspended/failed
 │    └── NoTenantContext       tenant data used without a resolved tenant
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
