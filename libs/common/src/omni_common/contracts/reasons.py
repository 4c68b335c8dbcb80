"""Why a message was dead-lettered or retried: the reason names on the wire (``x-omni-dlq-reason``).

Operators filter on these (``omni dlq list``, ``omni dlq replay --reason``) and alert on them, so each
has one spelling, here. Unexpected exceptions are retried as ``error:<ExceptionClass>``.
"""

from __future__ import annotations

from typing import Final

# The body is not the contract its queue carries (bad JSON, wrong type or version, missing fields).
MALFORMED_CONTRACT: Final = "malformed_contract"
# The body is the right contract but Meta's payload inside it cannot be read.
MALFORMED: Final = "malformed"
# A raw webhook that did not pass the signature check (never published by the ingress).
UNVERIFIED: Final = "unverified"

# Routing (tenant-router): an entry that cannot be resolved to exactly one active tenant.
UNMAPPED_ACCOUNT: Final = "unmapped_account"
TENANT_INACTIVE: Final = "tenant_inactive"
CHANNEL_DISABLED: Final = "channel_disabled"

# Writing (normalizer): the routed tenant cannot take it.
UNKNOWN_TENANT: Final = "unknown_tenant"
ACCOUNT_NOT_IN_TENANT: Final = "account_not_in_tenant"

# Sending (outbound-sender).
MESSAGE_NOT_FOUND: Final = "message_not_found"
NOT_OUTBOUND: Final = "not_outbound"

# Retries (not dead letters): a tenant database full, busy or down for the whole wait.
TENANT_DB_UNAVAILABLE: Final = "tenant_db_unavailable"
# A tenant whose database is being moved: its events wait in the delay queue, retries not counted.
HELD: Final = "tenant_held"
# The sender defers a send.
CLAIM_RACED: Final = "claim_raced"
PACED: Final = "paced"
SEND_IN_PROGRESS: Final = "send_in_progress"
# The sender's fence (Redis) cannot mark the call started: no call without it (also a message's code).
FENCE_UNAVAILABLE: Final = "send_fence_unavailable"
