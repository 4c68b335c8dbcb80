"""Processes per service for a run (pure): ``--split`` parsed, the candidates ``--split auto`` probes,
and the choice among the probes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Split:
    ingress: int
    router: int
    normalizer: int

    def __str__(self) -> str:
        return f"ingress={self.ingress},router={self.router},normalizer={self.normalizer}"


def parse_split(text: str, default: Split) -> Split:
    """``ingress=2,router=1,normalizer=2``; a service left out keeps ``default``'s count."""
    counts = asdict(default)
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name not in counts:
            raise ValueError(f"{part!r}: expected service=count with service one of {', '.join(counts)}")
        if not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"{part!r}: the count must be a whole number >= 1")
        counts[name] = int(value)
    return Split(**counts)


def parse_candidates(text: str, default: Split) -> list[Split]:
    """Candidates separated by ``;``, each as :func:`parse_split`; duplicates dropped, order kept."""
    return list(dict.fromkeys(parse_split(c, default) for c in text.split(";") if c.strip()))


def candidates(cores: int) -> list[Split]:
    """What ``--split auto`` probes, fewest processes first: one of each; then one normalizer per
    core; then the ingress, or else the router, at one per core too."""
    c = max(1, cores)
    return list(dict.fromkeys([Split(1, 1, 1), Split(1, 1, c), Split(c, 1, c), Split(1, c, c)]))


def best(probes: Sequence[tuple[Split, float]]) -> Split:
    """The split with the highest rate; a tie goes to the earlier (smaller) candidate."""
    if not probes:
        raise ValueError("no probe to choose from")
    return max(probes, key=lambda p: p[1])[0]  # max keeps the first of equal keys
