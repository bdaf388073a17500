"""What every bench hands to the summary: rows of (figure, ours, peer or raw, ratio, target, met?).

A bench prints its own lines as it goes and, at its end, writes its rows to
bench/results/rows/<bench>.json; `bench/summary.py` reads the rows this run wrote and prints one
table. A target is data: which value it bounds (`ours` or `ratio`), how (`>=`, `<=`) and by what.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROWS = Path(__file__).resolve().parent / "results" / "rows"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def median_spread(values: list[float]) -> str:
    """A repeated measurement as its median and its range, e.g. '1,020 (980–1,100)'."""
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


@dataclass
class Target:
    of: str  # "ours" or "ratio"
    op: str  # ">=" or "<="
    value: float

    def met(self, ours: float | None, ratio: float | None) -> bool | None:
        bounded = ours if self.of == "ours" else ratio
        if bounded is None:
            return None
        return bounded >= self.value if self.op == ">=" else bounded <= self.value

    def __str__(self) -> str:
        return f"{self.of} {'≥' if self.op == '>=' else '≤'} {self.value:g}"


@dataclass
class Row:
    bench: str
    figure: str
    unit: str
    ours: float | None
    peer: float | None = None  # the peer's or the raw figure beside ours, if there is one
    peer_name: str = ""
    target: Target | None = None
    ratio: float | None = field(init=False)
    met: bool | None = field(init=False)

    def __post_init__(self) -> None:
        self.ratio = self.ours / self.peer if self.ours is not None and self.peer else None
        self.met = self.target.met(self.ours, self.ratio) if self.target else None


def write_rows(bench: str, rows: list[Row]) -> Path:
    ROWS.mkdir(parents=True, exist_ok=True)
    path = ROWS / f"{bench}.json"
    path.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return path
