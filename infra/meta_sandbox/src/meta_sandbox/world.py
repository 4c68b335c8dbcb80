"""Test people and the business assets they administer: Pages, Instagram accounts, WABAs, numbers.

Meta's login dialog lists what the person logging in can grant: their Pages (each maybe linked to an
Instagram professional account), and the WhatsApp Business Accounts of their business portfolios
with the phone numbers in them. The sandbox seeds such people with ``POST /_sandbox/people`` (or the
``people`` key of ``--seed``). Every Page, Instagram account and phone number also becomes an
``Account`` (the object the send routes act on), so tokens issued by the OAuth flow reach the same
send/read code as the per-account tokens registered with ``/_sandbox/accounts``.

Sources: Graph API ``/me/accounts`` (Pages and ``instagram_business_account``),
https://developers.facebook.com/docs/graph-api/reference/user/accounts ; WhatsApp "Phone numbers"
(``verified_name``, ``display_phone_number``, ``quality_rating``, ``code_verification_status``,
``name_status``), https://developers.facebook.com/docs/whatsapp/business-management-api/manage-phone-numbers .
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from meta_sandbox.state import Account, Channel

if TYPE_CHECKING:
    from meta_sandbox.state import SandboxState


@dataclass
class Waba:
    """A WhatsApp Business Account: its phone numbers are ``Account``s with this ``waba_id``."""

    waba_id: str
    name: str
    business_id: str
    currency: str = "EUR"
    timezone_id: str = "1"


@dataclass
class Business:
    """A business portfolio (Business Manager) owning WABAs."""

    business_id: str
    name: str
    waba_ids: list[str] = field(default_factory=list)


@dataclass
class Person:
    """A test person who can log in through the sandbox's dialog."""

    user_id: str
    name: str
    page_ids: list[str] = field(default_factory=list)
    business_ids: list[str] = field(default_factory=list)


@dataclass
class World:
    """People, businesses and WABAs; Pages, IG accounts and numbers live in ``SandboxState.accounts``."""

    people: dict[str, Person] = field(default_factory=dict)
    businesses: dict[str, Business] = field(default_factory=dict)
    wabas: dict[str, Waba] = field(default_factory=dict)

    def waba_ids_of(self, person: Person) -> list[str]:
        """Every WABA of the person's business portfolios, in seeding order."""
        return [w for b in person.business_ids for w in self.businesses[b].waba_ids]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstagramIn(_In):
    id: str
    username: str
    name: str | None = None


class PageIn(_In):
    id: str
    name: str
    instagram: InstagramIn | None = None


class PhoneNumberIn(_In):
    id: str
    display_phone_number: str
    verified_name: str
    quality_rating: str = "GREEN"  # GREEN | YELLOW | RED | NA | UNKNOWN
    code_verification_status: str = "VERIFIED"  # VERIFIED | NOT_VERIFIED | EXPIRED
    name_status: str = "APPROVED"  # APPROVED | PENDING_REVIEW | DECLINED | AVAILABLE_WITHOUT_REVIEW | ...
    registered: bool = True
    # A two-step PIN its owner set before (another provider): /register with another PIN gets 133005.
    two_step_pin: str | None = Field(default=None, pattern=r"^[0-9]{6}$")


class WabaIn(_In):
    id: str
    name: str
    currency: str = "EUR"
    phone_numbers: list[PhoneNumberIn] = Field(default_factory=list)
    templates: list[dict[str, object]] = Field(default_factory=list)  # as POST /_sandbox/templates


class BusinessIn(_In):
    id: str
    name: str
    wabas: list[WabaIn] = Field(default_factory=list)


class PersonIn(_In):
    """A test person with the assets they administer (``POST /_sandbox/people``)."""

    user_id: str
    name: str
    pages: list[PageIn] = Field(default_factory=list)
    businesses: list[BusinessIn] = Field(default_factory=list)


def add_person(state: SandboxState, body: PersonIn) -> Person:
    """Register a person and their assets; assets already known as accounts keep their tokens."""
    world = state.world
    person = Person(body.user_id, body.name)
    for page in body.pages:
        account = _ensure(state, "facebook", page.id, page.name)
        if page.instagram is not None:
            ig_in = page.instagram
            ig = _ensure(state, "instagram", ig_in.id, ig_in.name or ig_in.username)
            ig.username, ig.page_id, account.instagram_id = ig_in.username, page.id, ig_in.id
        person.page_ids.append(page.id)
    for business_in in body.businesses:
        business = world.businesses.setdefault(business_in.id, Business(business_in.id, business_in.name))
        for waba_in in business_in.wabas:
            world.wabas[waba_in.id] = Waba(waba_in.id, waba_in.name, business.business_id, waba_in.currency)
            if waba_in.id not in business.waba_ids:
                business.waba_ids.append(waba_in.id)
            for number in waba_in.phone_numbers:
                account = _ensure(state, "whatsapp", number.id, number.verified_name)
                account.waba_id = waba_in.id
                account.display_phone_number = number.display_phone_number
                account.quality_rating = number.quality_rating
                account.code_verification_status = number.code_verification_status
                account.name_status = number.name_status
                account.registered = number.registered
                if number.two_step_pin is not None:
                    account.pin = number.two_step_pin
            _seed_templates(state, waba_in)
        person.business_ids.append(business.business_id)
    world.people[person.user_id] = person
    return person


def _seed_templates(state: SandboxState, waba_in: WabaIn) -> None:
    from meta_sandbox.templates import TemplateIn, add_template  # templates build on state only

    for item in waba_in.templates:
        add_template(state, TemplateIn.model_validate({**item, "waba_id": waba_in.id}))


def _ensure(state: SandboxState, channel: Channel, account_id: str, name: str) -> Account:
    """The account with this id, created with an internal token nobody is given when new."""
    existing = state.accounts.get((channel, account_id))
    if existing is not None:
        return existing
    # Unguessable and never returned: such an account is reached through OAuth-issued tokens only.
    token = "sandbox-internal-" + secrets.token_urlsafe(24)
    account = Account(channel=channel, account_id=account_id, token=token, display_name=name)
    state.accounts[(channel, account_id)] = account
    return account


def person_summary(state: SandboxState, person: Person) -> dict[str, object]:
    """Control answer for a person (no tokens)."""
    world = state.world
    pages = []
    for page_id in person.page_ids:
        page = state.accounts[("facebook", page_id)]
        pages.append({"id": page_id, "name": page.display_name, "instagram_id": page.instagram_id})
    wabas = []
    for waba_id in world.waba_ids_of(person):
        numbers = [
            a.account_id for a in state.accounts.values() if a.channel == "whatsapp" and a.waba_id == waba_id
        ]
        wabas.append({"id": waba_id, "name": world.wabas[waba_id].name, "phone_number_ids": numbers})
    return {
        "user_id": person.user_id,
        "name": person.name,
        "pages": pages,
        "businesses": person.business_ids,
        "wabas": wabas,
    }
