"""Placement and server URLs: the pure rules of several database servers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from omni_common.db.servers import default_password_env, server_url, split_secret
from omni_common.domain.placement import ServerRoom, has_room, pick_server


def test_split_secret_keeps_no_password_and_no_database() -> None:
    bare, password = split_secret(
        "postgresql://omni:s3cret@db-b.internal:6432/omni_tenants_b?sslmode=require"
    )
    assert password == "s3cret"
    assert "s3cret" not in bare
    assert bare == "postgresql://omni@db-b.internal:6432?sslmode=require"
    assert split_secret("postgresql://omni@db-b:5432") == ("postgresql://omni@db-b:5432", None)


def test_server_url_takes_the_password_from_the_named_variable_only() -> None:
    catalog = "postgresql://postgres:catpw@127.0.0.1:5432/omni"
    main = server_url(catalog, None, None)
    assert (main.host, main.password, main.database) == ("127.0.0.1", "catpw", "omni")
    env = {"OMNI_DB_SERVER_B_PASSWORD": "bpw"}
    other = server_url(catalog, "postgresql://omni@db-b:6432", "OMNI_DB_SERVER_B_PASSWORD", environ=env)
    assert (other.host, other.port, other.password, other.database) == ("db-b", 6432, "bpw", "omni")
    unset = server_url(catalog, "postgresql://omni@db-b:6432", "OMNI_DB_SERVER_B_PASSWORD", environ={})
    assert unset.password is None  # libpq's own ways (.pgpass) then
    assert default_password_env("tenants-b") == "OMNI_DB_SERVER_TENANTS_B_PASSWORD"


def test_placement_picks_the_active_server_with_most_room() -> None:
    servers = [
        ServerRoom("main", "active", 90, 100),
        ServerRoom("b", "active", 10, 50),
        ServerRoom("c", "draining", 0, 500),
        ServerRoom("d", "full", 0, None),
    ]
    assert pick_server(servers) == servers[1]
    assert pick_server([ServerRoom("a", "active", 5, None), ServerRoom("b", "active", 2, None)]).name == "b"
    assert pick_server([ServerRoom("a", "active", 3, 3)]) is None
    assert pick_server([]) is None


rooms = st.builds(
    ServerRoom,
    name=st.text("abc", min_size=1, max_size=3),
    state=st.sampled_from(["active", "draining", "full"]),
    tenants=st.integers(0, 50),
    max_tenants=st.one_of(st.none(), st.integers(0, 50)),
)


@given(st.lists(rooms, max_size=6))
def test_placement_never_picks_a_server_without_room(servers: list[ServerRoom]) -> None:
    picked = pick_server(servers)
    if picked is None:
        assert not any(has_room(s) for s in servers)
    else:
        assert has_room(picked)


def test_a_moved_database_is_told_from_a_busy_server() -> None:
    import psycopg

    from omni_common.db.connect_errors import connect_refused, moved

    read_only = psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction")
    gone = psycopg.OperationalError('connection failed: FATAL:  database "omni_t_ab" does not exist')
    full = psycopg.OperationalError("connection failed: FATAL:  sorry, too many clients already")
    assert moved(read_only)
    assert moved(gone)
    assert not moved(full)
    assert not moved(ValueError("database does not exist"))
    assert connect_refused(full)
    assert not connect_refused(read_only)
