"""Shared helpers of the Meta fixture tests (``test_inbound_{whatsapp,facebook,instagram}.py``).

A ``MetaFixtures`` per channel reads ``tests/fixtures/meta/<channel>/<name>.json``, runs it through
both stages (split, then normalize), and builds the expected message with that channel's defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omni_common.channels.inbound import InboundMessage, NormalizedEvent, normalize, split_delivery
from omni_common.domain.channels import Channel

FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"


@dataclass(frozen=True)
class MetaFixtures:
    """One channel's fixtures: ``message_id_prefix`` + a suffix names the expected messages,
    ``defaults`` fills their other fields, ``check_raw`` checks the raw object an event kept."""

    channel: Channel
    message_id_prefix: str
    defaults: dict[str, Any]
    check_raw: Callable[[InboundMessage, InboundMessage], None]

    @property
    def folder(self) -> Path:
        return FIXTURES / self.channel

    def helpers(
        self,
    ) -> tuple[
        Callable[..., list[NormalizedEvent]],
        Callable[[str], NormalizedEvent],
        Callable[..., InboundMessage],
        Callable[[str, InboundMessage], None],
    ]:
        """``events_of, only, message, assert_message``, the names the test modules use."""
        return self.events_of, self.only, self.message, self.assert_message

    def events_of(self, name: str, *, rejects: int = 0) -> list[NormalizedEvent]:
        """Every event of fixture ``name`` (which must have exactly ``rejects`` unroutable parts)."""
        result = split_delivery(self.channel, (self.folder / f"{name}.json").read_bytes())
        assert len(result.rejects) == rejects, result.rejects
        return [
            event for item in result.items for event in normalize(self.channel, item.account_id, item.payload)
        ]

    def only(self, name: str) -> NormalizedEvent:
        """The one event of fixture ``name``."""
        events = self.events_of(name)
        assert len(events) == 1
        return events[0]

    def message(self, suffix: int | str, **fields: Any) -> InboundMessage:
        """The expected message ``message_id_prefix + suffix``, with the defaults for everything unset."""
        return InboundMessage(
            **{
                "external_message_id": f"{self.message_id_prefix}{suffix}",
                "raw": {},
                **self.defaults,
                **fields,
            }
        )

    def assert_message(self, name: str, expected: InboundMessage) -> None:
        """Fixture ``name`` is that one message (its raw object aside, which ``check_raw`` looks at)."""
        event = self.only(name)
        assert isinstance(event, InboundMessage)
        self.check_raw(event, expected)
        assert event == dataclasses.replace(expected, raw=event.raw)
