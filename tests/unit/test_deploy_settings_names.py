"""Every OMNI_* setting that compose and the Kubernetes manifests pass is one the services read: a
renamed or removed setting left in a manifest would be ignored silently (pydantic drops unknown
environment variables), as the tenant-pool settings were once the connection budget replaced them."""

from __future__ import annotations

import re
from pathlib import Path

from omni_common.broker.permissions import SERVICES, password_variable
from omni_common.db.privileges import SERVICES as DB_SERVICES
from omni_common.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Not service settings: the Erlang cookie of compose's RabbitMQ cluster profile.
NOT_SETTINGS = {"OMNI_ERLANG_COOKIE", "OMNI_RABBITMQ_ERLANG_COOKIE"}
# Read by name from the catalog, not Settings: a database server's password (``db/servers.py``).
SERVER_PASSWORD = re.compile(r"OMNI_DB_SERVER_[A-Z0-9_]+_PASSWORD")
# Read by name by `omni broker setup` only: each service's broker password (broker/permissions.py).
BROKER_PASSWORDS = {password_variable(s) for s in SERVICES}
# Read by name by `omni migrate`: each service's database role password (``db/privileges.py``).
ROLE_PASSWORDS = {access.password_env for access in DB_SERVICES}


def test_deploy_files_name_only_settings_that_exist() -> None:
    fields = set(Settings.model_fields)
    files = [
        *ROOT.glob("deploy/k8s/**/*.yaml"),
        *ROOT.glob("deploy/k8s/**/*.env"),
        ROOT / "docker-compose.yml",
    ]
    unknown = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in re.findall(r"\bOMNI_[A-Z0-9_]+", path.read_text())
        # A name ending in "_" is prose naming a family (OMNI_DB_SERVER_<NAME>_PASSWORD).
        if name not in NOT_SETTINGS | BROKER_PASSWORDS
        and not name.endswith("_")
        and not SERVER_PASSWORD.fullmatch(name)
        and name not in ROLE_PASSWORDS
        and name.removeprefix("OMNI_").lower() not in fields
    }
    assert not unknown, sorted(unknown)
