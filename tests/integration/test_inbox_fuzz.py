"""The inbox API under hostile input: every operation of its OpenAPI document, fuzzed.

Schemathesis generates requests from the document the inbox serves in development (valid ones, and
ones that break it: wrong types, missing and extra fields, huge and odd strings, bad headers), as an
owner, as a manager and as no one. Every answer must be below 500, and a refusal (4xx) must leave both
databases exactly as they were: a fingerprint of every table (tenant and catalog) is taken before and
after each refused request. Bounded (examples per operation below) to stay well under 90 s; the
totals are printed and kept in docs/reliability.md.

A hand-written table then covers what the document cannot describe: the HTML form endpoints with
invalid UTF-8, non-ASCII and control characters in bodies and headers.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inbox_support import PASSWORD, SeededTenant, running_inbox, seed
from psycopg.types.json import Jsonb
from schemathesis import GenerationMode

from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings

pytestmark = pytest.mark.integration

# Examples per operation and generation mode (valid / invalid), twice that where real ids are pinned
# (so bodies reach the handlers past their 404s): fewer for callers refused before any body is read.
# OMNI_FUZZ_SCALE multiplies them for a deeper run (docs/reliability.md has the counts of both).
SCALE = int(os.environ.get("OMNI_FUZZ_SCALE", "1"))
EXAMPLES = {"business_owner": 3 * SCALE, "manager": 2 * SCALE, None: 1 * SCALE}
# Never fuzzed: the event stream never ends (its refusals are covered by the anonymous run of the
# plain GET below and by test_inbox_api).
NEVER = {("GET", "/api/events")}
# Not fuzzed while signed in: they end the very session the run uses (fuzzed as no one).
ENDS_SESSION = {("POST", "/api/auth/logout"), ("POST", "/api/auth/sign-out-everywhere")}
# Answers to these are not writes of the request's own: a refused sign-in is recorded on purpose.
INTENDED_ON_REFUSAL = {("POST", "/api/auth/login"): "user.sign_in_failed"}

# Written by the machinery, not by the request at hand: a session's last_seen_at (moved by the
# authentication itself, at most once a minute), and the WhatsApp templates' cache, which a GET of
# /api/templates refreshes in the background (an earlier 2xx's sync can land during a later 4xx).
BOOKKEEPING = {"user_sessions": ["last_seen_at"], "wa_template_syncs": None, "wa_templates": None}

# Every public table, as text, in one round trip (the function lives in this connection only).
FINGERPRINT = """
CREATE OR REPLACE FUNCTION pg_temp.fingerprint(skip text[], drop_columns jsonb)
RETURNS TABLE (name text, digest text) LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND NOT tablename = ANY(skip)
           ORDER BY tablename LOOP
    name := t;
    EXECUTE format(
      'SELECT md5(coalesce(string_agg(r, %L ORDER BY r), %L))'
      ' FROM (SELECT (to_jsonb(x) - %L::text[])::text AS r FROM %I x) rows',
      ',', '', coalesce(ARRAY(SELECT jsonb_array_elements_text(drop_columns -> t)), '{}'), t
    ) INTO digest;
    RETURN NEXT;
  END LOOP;
END $$;
"""


class Databases:
    """Fingerprints of the tenant's and the catalog's tables (row text, so an UPDATE shows too)."""

    def __init__(self, settings: Settings, tenant: SeededTenant) -> None:
        self.conns = {
            "tenant": psycopg.connect(
                libpq_conninfo(settings.database_url, database=tenant.db_name), autocommit=True
            ),
            "catalog": psycopg.connect(libpq_conninfo(settings.database_url), autocommit=True),
        }
        for conn in self.conns.values():
            conn.execute(FINGERPRINT)
        self.skip = [t for t, columns in BOOKKEEPING.items() if columns is None]
        self.drop_columns = {t: columns for t, columns in BOOKKEEPING.items() if columns}
        self.seconds = 0.0

    def snapshot(self, *, ignore_audit: str | None = None) -> dict[str, str]:
        started = time.monotonic()
        try:
            return self._snapshot(ignore_audit)
        finally:
            self.seconds += time.monotonic() - started

    def _snapshot(self, ignore_audit: str | None) -> dict[str, str]:
        found: dict[str, str] = {}
        for where, conn in self.conns.items():
            rows = conn.execute(
                "SELECT name, digest FROM pg_temp.fingerprint(%s, %s)",
                (self.skip, Jsonb(self.drop_columns)),
            ).fetchall()
            for name, digest in rows:
                found[f"{where}.{name}"] = digest
        if ignore_audit is not None:
            row = (
                self.conns["tenant"]
                .execute(
                    "SELECT md5(coalesce(string_agg(a::text, ',' ORDER BY a::text), '')) FROM audit_log a"
                    " WHERE action <> %s",
                    (ignore_audit,),
                )
                .fetchone()
            )
            found["tenant.audit_log"] = row[0] if row else ""
        return found

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()


@dataclass
class Tally:
    """What the run saw, for the report and docs/reliability.md."""

    requests: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    refusals_checked: int = 0
    server_errors: list[str] = field(default_factory=list)
    writes_on_refusal: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def app_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings.model_copy(update={"media_storage": str(tmp_path_factory.mktemp("media"))})


@pytest.fixture(scope="module")
def tenant(app_settings: Settings) -> SeededTenant:
    return seed(app_settings, f"fuzz-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def base_url(app_settings: Settings, tenant: SeededTenant) -> Iterator[str]:
    assert app_settings.env == "development"  # the only mode that serves /openapi.json
    with running_inbox(app_settings, declare=True) as url:
        yield url


@pytest.fixture(scope="module")
def schema(base_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json")


def _bearer(base_url: str, tenant: SeededTenant, role: str) -> dict[str, str]:
    answer = httpx.post(
        f"{base_url}/api/auth/login",
        json={"tenant": tenant.slug, "email": tenant.users[role], "password": PASSWORD},
        timeout=15,
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _known_ids(tenant: SeededTenant) -> dict[str, list[str]]:
    """Ids that exist, so invalid bodies reach the handlers past their 404s."""
    return {
        "chat_id": [str(c) for c in tenant.chats.values()],
        "message_id": [str(m) for m in tenant.messages.values()],
        "account_id": [str(a) for a in tenant.accounts.values()],
    }


def _fuzz_operation(
    operation: Any,
    *,
    base_url: str,
    headers: dict[str, str],
    known: dict[str, list[str]],
    dbs: Databases,
    tally: Tally,
    http: requests.Session,
    examples: int,
) -> None:
    key = (operation.method.upper(), operation.path)
    names = {p.name for p in operation.path_parameters}
    pinned = {n: known[n][0] for n in names if n in known} if names and names <= set(known) else None
    strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
    if pinned:
        strategies += [
            operation.as_strategy(generation_mode=mode, path_parameters=pinned) for mode in GenerationMode
        ]
    ignore = INTENDED_ON_REFUSAL.get(key)

    @settings(
        max_examples=examples * len(strategies),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        before = dbs.snapshot(ignore_audit=ignore)
        try:
            response = case.call(base_url=base_url, headers=headers, session=http, timeout=15)
        except requests.exceptions.InvalidHeader:
            return  # the client refused to send it (e.g. a newline in a header): nothing reached us
        tally.requests += 1
        status = response.status_code
        tally.by_class[f"{status // 100}xx"] += 1
        label = f"{key[0]} {key[1]} -> {status}"
        if status >= 500:
            tally.server_errors.append(f"{label}: {case.as_curl_command()[:600]}")
        elif 400 <= status < 500:
            tally.refusals_checked += 1
            after = dbs.snapshot(ignore_audit=ignore)
            changed = sorted(t for t in after if after[t] != before.get(t))
            if changed:
                tally.writes_on_refusal.append(f"{label} changed {changed}: {case.as_curl_command()[:400]}")

    run()


def _fuzz(
    schema: Any, base_url: str, headers: dict[str, str], tenant: SeededTenant, dbs: Databases, examples: int
) -> Tally:
    tally = Tally()
    known = _known_ids(tenant)
    skip = NEVER | (ENDS_SESSION if headers else set())
    with requests.Session() as http:
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in skip:
                continue
            _fuzz_operation(
                operation,
                base_url=base_url,
                headers=headers,
                known=known,
                dbs=dbs,
                tally=tally,
                http=http,
                examples=examples,
            )
    return tally


@pytest.mark.parametrize("role", ["business_owner", "manager", None])
def test_every_operation_answers_below_500_and_refusals_write_nothing(
    schema: Any, base_url: str, tenant: SeededTenant, app_settings: Settings, role: str | None
) -> None:
    headers = _bearer(base_url, tenant, role) if role else {}
    dbs = Databases(app_settings, tenant)
    started = time.monotonic()
    try:
        tally = _fuzz(schema, base_url, headers, tenant, dbs, EXAMPLES[role])
    finally:
        dbs.close()
    took = time.monotonic() - started
    line = (
        f"fuzz as {role or 'no one'}: {tally.requests} requests in {took:.1f} s, "
        f"{dict(sorted(tally.by_class.items()))}, {tally.refusals_checked} refusals checked for writes "
        f"(fingerprints {dbs.seconds:.1f} s), {len(tally.server_errors)} 5xx"
    )
    print(line)
    if os.environ.get("OMNI_FUZZ_REPORT"):  # the counts for docs/reliability.md (xdist hides prints)
        with open(os.environ["OMNI_FUZZ_REPORT"], "a") as report:
            report.write(line + "\n")
    assert not tally.server_errors, "\n".join(tally.server_errors[:10])
    assert not tally.writes_on_refusal, "\n".join(tally.writes_on_refusal[:10])
    assert tally.requests > 0
    if role is None:  # as no one, everything but signing in is refused
        assert set(tally.by_class) <= {"4xx"}


# --- the HTML forms: bytes the OpenAPI document cannot describe ----------------------------------

FORMS = (
    "/login",
    "/settings/me",
    "/settings/password",
    "/settings/time-zone",
    "/settings/labels",
    "/settings/quick-replies",
    "/settings/inbox/signals",
    "/ui/conversations/{chat}/reply",
    "/ui/conversations/{chat}/notes",
    "/ui/conversations/{chat}/state",
    "/ui/conversations/{chat}/assignee",
    "/ui/conversations/{chat}/labels",
    "/ui/conversations/{chat}/messages/{message}/reactions",
)
FIELDS = ("text", "body", "name", "display_name", "shortcut", "state", "emoji", "zone", "tenant", "email")
BODIES: dict[str, bytes] = {
    "invalid UTF-8 escapes": b"&".join(f.encode() + b"=%FF%FE%C0%AF%ED%A0%80" for f in FIELDS),
    "raw high bytes": b"&".join(f.encode() + b"=\xff\xfe\x80\xc3\x28" for f in FIELDS),
    "NUL": b"&".join(f.encode() + b"=a%00b" for f in FIELDS),
    "control characters": b"&".join(f.encode() + b"=%1B%5B31m%07%08" for f in FIELDS),
    "broken escapes": b"text=%G1%&body=%%%&name=%",
    "every field twice": b"&".join(f.encode() + b"=a&" + f.encode() + b"=b" for f in FIELDS),
    "2 MB of text": b"text=" + b"A" * 2_000_000 + b"&body=" + b"B" * 100,
    "not a form": b"\x00\x01\x02{]}",
}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HEADERS: dict[str, dict[str, bytes | str]] = {
    "Latin-1 User-Agent": {"User-Agent": "Caf\xe9 \xff".encode("latin-1")},
    "invalid UTF-8 CSRF header": {"X-CSRF-Token": b"\xff\xfe\xc0"},
    "non-ASCII cookie": {"Cookie": b"omni_session=\xc3\xa9\xff"},
    "undecodable charset": {"Content-Type": b"application/x-www-form-urlencoded; charset=\xff"},
    "UTF-7 charset": {"Content-Type": "application/x-www-form-urlencoded; charset=utf-7"},
    "multipart without a boundary": {"Content-Type": "multipart/form-data"},
    "non-ASCII HX headers": {"HX-Request": "tr\xfce".encode("latin-1"), "HX-Target": b"\xe2\x80\xae"},
    "non-ASCII Accept-Language": {"Accept-Language": "\u00e9\u00e8".encode()},
}


def _signed_in_page_client(base_url: str, tenant: SeededTenant) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base_url, timeout=30)
    answer = client.post(
        "/api/auth/login",
        json={"tenant": tenant.slug, "email": tenant.users["business_owner"], "password": PASSWORD},
    )
    assert answer.status_code == 200
    page = client.get("/inbox").text
    csrf = page.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]
    return client, csrf


def test_forms_answer_hostile_bytes_below_500_and_refusals_write_nothing(
    base_url: str, tenant: SeededTenant, app_settings: Settings
) -> None:
    client, csrf = _signed_in_page_client(base_url, tenant)
    dbs = Databases(app_settings, tenant)
    chat, message = tenant.chats["whatsapp"], tenant.messages["whatsapp"]
    cases: list[tuple[str, str, bytes, dict[str, bytes | str]]] = []
    for form in FORMS:
        path = form.format(chat=chat, message=message)
        for name, body in BODIES.items():
            cases.append((f"{path} [{name}]", path, body + b"&csrf_token=" + csrf.encode(), FORM))
        for name, headers in HEADERS.items():
            body = b"text=hello&body=hello&csrf_token=" + csrf.encode()
            cases.append((f"{path} [{name}]", path, body, {**FORM, **headers}))
    seen: Counter[str] = Counter()
    failures: list[str] = []
    refusals = 0
    try:
        for label, path, body, headers in cases:
            before = dbs.snapshot(ignore_audit="user.sign_in_failed")
            response = client.post(path, content=body, headers=headers, follow_redirects=False)
            seen[f"{response.status_code // 100}xx"] += 1
            if response.status_code >= 500:
                failures.append(f"{label} -> {response.status_code}: {response.text[:200]}")
            else:
                # A refusal: a 4xx, a redirect to the sign-in page, or a settings form sent back to
                # its page with the reason (``err=``). Only those must leave everything as it was.
                location = response.headers.get("location", "")
                refused = response.status_code >= 400 or "/login" in location or "err=" in location
                refusals += refused
                after = dbs.snapshot(ignore_audit="user.sign_in_failed") if refused else before
                changed = sorted(t for t in after if after[t] != before.get(t))
                if changed:
                    failures.append(f"{label} -> {response.status_code} changed {changed}")
    finally:
        dbs.close()
        client.close()
    line = f"forms: {len(cases)} hostile posts, {dict(sorted(seen.items()))}, {refusals} refusals checked"
    print(line)
    if os.environ.get("OMNI_FUZZ_REPORT"):
        with open(os.environ["OMNI_FUZZ_REPORT"], "a") as report:
            report.write(line + "\n")
    assert not failures, "\n".join(failures[:15])


def test_a_reply_body_that_is_not_utf8_json_is_a_422_not_a_500(base_url: str, tenant: SeededTenant) -> None:
    # Found by a deeper run: the 422 carried the raw bytes back, and encoding them failed (a 500).
    headers = _bearer(base_url, tenant, "manager") | {"Content-Type": "application/json"}
    answer = httpx.post(
        f"{base_url}/api/conversations/{tenant.chats['whatsapp']}/messages",
        content=b"!\x15x\xff\xfe",
        headers=headers,
    )
    assert answer.status_code == 422, answer.text


def test_a_nul_character_is_refused_with_422_not_a_500(
    base_url: str, tenant: SeededTenant, app_settings: Settings
) -> None:
    # Found by the run above: PostgreSQL text cannot hold NUL, and psycopg's DataError was a 500.
    headers = _bearer(base_url, tenant, "business_owner")
    with httpx.Client(base_url=base_url, headers=headers, timeout=15) as http:
        assert http.get("/api/templates", params={"status": "APPROVED\x00"}).status_code == 422
        assert http.get("/api/conversations", params={"q": "a\x00b"}).status_code in (200, 422)
        made = http.post("/api/labels", json={"name": "a\x00b", "color": "#112233"})
        assert made.status_code == 422, made.text
        assert "cannot be stored" in made.json()["detail"]


@pytest.mark.parametrize(
    "change",
    [
        {"token": "EAAtoken-0123456789", "human_agent": True, "enabled": True},
        {"token": "EAAtoken-0123456789", "human_agent": False},
    ],
    ids=["human-agent-on-whatsapp", "human-agent-off-on-whatsapp"],
)
def test_an_account_change_refused_for_its_values_writes_nowhere(
    base_url: str, tenant: SeededTenant, app_settings: Settings, change: dict[str, Any]
) -> None:
    # Found by a deeper run (OMNI_FUZZ_SCALE=5): a new token was saved in the catalog (its own
    # database) before the human-agent flag, which WhatsApp has not, was refused: a 422 that wrote.
    headers = _bearer(base_url, tenant, "business_owner")
    dbs = Databases(app_settings, tenant)
    try:
        before = dbs.snapshot()
        answer = httpx.patch(
            f"{base_url}/api/social-accounts/{tenant.accounts['whatsapp']}", json=change, headers=headers
        )
        assert answer.status_code == 422, answer.text
        after = dbs.snapshot()
    finally:
        dbs.close()
    assert sorted(t for t in after if after[t] != before[t]) == []
