"""What the customer panel's link form and the JSON API take."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


class LinkIn(BaseModel):
    # The other contact: the same person on another channel (or another account).
    other_contact_id: uuid.UUID
