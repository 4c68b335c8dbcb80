"""Meta's rate-limit usage headers: ``X-App-Usage`` and ``X-Business-Use-Case-Usage`` (§4.3)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Same JSON shape as X-App-Usage; older Page-token responses still carry it.
_FLAT_HEADERS = ("x-app-usage", "x-page-usage")
_BUC_HEADER = "x-business-use-case-usage"
_PERCENT_KEYS = ("call_count", "total_time", "total_cputime")


@dataclass(frozen=True)
class Usage:
    """Highest usage percent seen, and Meta's estimate (minutes) of when throttling ends."""

    max_percent: float | None = None
    regain_access_minutes: float | None = None
    by_object: dict[str, float] = field(default_factory=dict)  # business-object id -> max percent

    @property
    def throttled(self) -> bool:
        """True when some counter reached 100 %, the point where Meta throttles."""
        return self.max_percent is not None and self.max_percent >= 100


def parse_usage(headers: Mapping[str, Any]) -> Usage:
    """Read the usage headers; absent or malformed headers give an empty ``Usage`` (never raises)."""
    lowered = _lower(headers)
    percents: list[float] = []
    regain: list[float] = []
    by_object: dict[str, float] = {}
    for name in _FLAT_HEADERS:
        doc = _loads(lowered.get(name))
        if isinstance(doc, dict):
            percents.extend(_percents(doc))
    buc = _loads(lowered.get(_BUC_HEADER))
    if isinstance(buc, dict):
        for obj_id, entries in buc.items():
            for entry in entries if isinstance(entries, list) else [entries]:
                if not isinstance(entry, dict):
                    continue
                found = _percents(entry)
                if found:
                    by_object[str(obj_id)] = max(by_object.get(str(obj_id), 0.0), *found)
                    percents.extend(found)
                minutes = _number(entry.get("estimated_time_to_regain_access"))
                if minutes is not None and minutes >= 0:
                    regain.append(minutes)
    return Usage(
        max_percent=max(percents) if percents else None,
        regain_access_minutes=max(regain) if regain else None,
        by_object=by_object,
    )


def _lower(headers: Mapping[str, Any]) -> dict[str, Any]:
    try:
        items = list(headers.items())
    except Exception:  # a junk mapping means "no usage info", never a crash
        return {}
    return {k.lower(): v for k, v in items if isinstance(k, str)}


def _loads(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


def _percents(doc: dict[Any, Any]) -> list[float]:
    return [n for n in (_number(doc.get(k)) for k in _PERCENT_KEYS) if n is not None and n >= 0]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
