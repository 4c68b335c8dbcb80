"""Tenant database schema: everything of one restaurant, one module per part of the product.

Every table is imported here, so ``TenantBase.metadata`` (migrations, schema checks) holds them all.
"""

from __future__ import annotations

from omni_common.db.tenant_models.alerts import (
    CustomerSignal,
    InboxSignals,
    PushClaim,
    PushKey,
    PushSubscription,
)
from omni_common.db.tenant_models.assistant import (
    KNOWLEDGE_KINDS,
    SUGGESTION_OUTCOMES,
    AssistantKnowledge,
    AssistantSettings,
    Suggestion,
)
from omni_common.db.tenant_models.base import (
    CHAT_STATES,
    DIRECTIONS,
    INBOX_ROLES,
    MESSAGE_KINDS,
    MESSAGE_STATUSES,
    ROLES,
    TenantBase,
    created,
    ts,
    updated,
    uuid_pk,
)
from omni_common.db.tenant_models.core import (
    Chat,
    ChatMessage,
    Contact,
    Notification,
    Outbox,
    SocialAccount,
    User,
)
from omni_common.db.tenant_models.sessions import UserSession
from omni_common.db.tenant_models.team import (
    AuditEntry,
    ChatLabel,
    ChatNote,
    ChatRead,
    InboxDisplay,
    Label,
    QuickReply,
)
from omni_common.db.tenant_models.templates import WaTemplate, WaTemplateSync

__all__ = [
    "CHAT_STATES",
    "DIRECTIONS",
    "INBOX_ROLES",
    "KNOWLEDGE_KINDS",
    "MESSAGE_KINDS",
    "MESSAGE_STATUSES",
    "ROLES",
    "SUGGESTION_OUTCOMES",
    "AssistantKnowledge",
    "AssistantSettings",
    "AuditEntry",
    "Chat",
    "ChatLabel",
    "ChatMessage",
    "ChatNote",
    "ChatRead",
    "Contact",
    "CustomerSignal",
    "InboxDisplay",
    "InboxSignals",
    "Label",
    "Notification",
    "Outbox",
    "PushClaim",
    "PushKey",
    "PushSubscription",
    "QuickReply",
    "SocialAccount",
    "Suggestion",
    "TenantBase",
    "User",
    "UserSession",
    "WaTemplate",
    "WaTemplateSync",
    "created",
    "ts",
    "updated",
    "uuid_pk",
]
