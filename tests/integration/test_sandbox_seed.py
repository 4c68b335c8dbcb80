"""``python -m meta_sandbox --seed``: the demo's file still loads, and the optional new keys work."""

from __future__ import annotations

import json
from pathlib import Path

from meta_sandbox.__main__ import seed
from meta_sandbox.state import SandboxConfig, SandboxState
from omni_cli.commands.demo import sandbox_seed


def test_the_demo_seed_loads_unchanged() -> None:
    state = SandboxState(SandboxConfig())
    seed(state, json.loads(json.dumps(sandbox_seed())))  # as read back from the seed file
    assert {a.channel for a in state.accounts.values()} == {"whatsapp", "facebook", "instagram"}
    assert len(state.contacts) == 2


def test_optional_keys_seed_people_templates_and_login_configs(tmp_path: Path) -> None:
    demo = sandbox_seed()
    page_id = next(a["account_id"] for a in demo["accounts"] if a["channel"] == "facebook")
    page_token = next(a["token"] for a in demo["accounts"] if a["channel"] == "facebook")
    data = {
        **demo,
        "people": [
            {
                "user_id": "900",
                "name": "Demo Owner",
                "pages": [{"id": page_id, "name": "Demo Bistro"}],
                "businesses": [
                    {
                        "id": "901",
                        "name": "Demo Bistro SL",
                        "wabas": [
                            {
                                "id": "902",
                                "name": "Demo WhatsApp",
                                "phone_numbers": [
                                    {
                                        "id": "903",
                                        "display_phone_number": "+34 600 000 903",
                                        "verified_name": "Demo",
                                    }
                                ],
                                "templates": [
                                    {"name": "hello", "components": [{"type": "BODY", "text": "Hello {{1}}"}]}
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
        "sample_templates": ["200000000000001"],
        "templates": [
            {
                "waba_id": "200000000000001",
                "name": "table_ready",
                "status": "REJECTED",
                "reason": "INVALID_FORMAT",
                "components": [{"type": "BODY", "text": "Your table is ready"}],
            }
        ],
        "login_configs": [{"config_id": "es-1"}],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(data))
    state = SandboxState(SandboxConfig())
    seed(state, json.loads(path.read_text()))
    assert state.accounts[("facebook", page_id)].token == page_token  # the person owns the seeded Page
    assert state.world.people["900"].page_ids == [page_id]
    assert state.accounts[("whatsapp", "903")].waba_id == "902"
    names = {(t.waba_id, t.name) for t in state.templates.values()}
    assert ("902", "hello") in names
    assert ("200000000000001", "table_ready") in names
    assert ("200000000000001", "booking_confirmation") in names
    assert state.oauth.configs["es-1"].embedded_signup
