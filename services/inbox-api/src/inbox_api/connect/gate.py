"""Who may use "Continue with Facebook", and the sentence for a sign-in that is not this session's."""

from __future__ import annotations

from inbox_api.auth.models import Principal
from inbox_api.auth.service import AuthProblem
from inbox_api.connect.meta import FacebookLogin
from inbox_api.deps import InboxDeps

SETTINGS = "/settings"
OWNER = "business_owner"
BAD_STATE = (
    "This Facebook sign-in is not valid here: it expired, was already used, or was started from "
    "another browser. Nothing was connected. Start again from Settings."
)


def owner_login(deps: InboxDeps, user: Principal) -> FacebookLogin:
    """The Meta app's login settings, for the restaurant's owner only (AuthProblem otherwise)."""
    if user.role != OWNER:
        raise AuthProblem(403, "Only the restaurant's owner can connect accounts with Facebook.")
    if deps.facebook is None:
        raise AuthProblem(403, "Continue with Facebook is not set up on this server (no Meta app).")
    return deps.facebook
