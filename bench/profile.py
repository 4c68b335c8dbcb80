"""py-spy (sampling profiler) on one process of each service: the frames that take the CPU."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    """Start recording collapsed stacks of ``pid`` (idle frames excluded) into ``out``."""
    argv = [PY_SPY, "record", "-p", str(pid), "-d", str(seconds), "-r", "100", "-f", "raw", "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_frames(collapsed: Path, n: int = 12) -> list[tuple[str, float]]:
    """Leaf frames by share of samples, plus the service/library call that led to them."""
    own: Counter[str] = Counter()
    total = 0
    if not collapsed.exists():
        return []
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        caller = next((f for f in reversed(frames[:-1]) if "/omni_common/" in f or "/services/" in f), "")
        key = leaf if not caller else f"{leaf}  <- {caller}"
        own[key] += int(count)
        total += int(count)
    return [(frame, 100 * c / total) for frame, c in own.most_common(n)] if total else []
