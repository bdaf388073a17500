"""The one table `make bench` ends with: every row the benches of this run wrote to
bench/results/rows/, with the figure of the previous run of the same kind beside it, saved as
bench/results/<UTC timestamp>.json so the next run can be compared with this one.

    python bench/summary.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROWS, Target  # noqa: E402

RESULTS = ROWS.parent


def number(value: float | None) -> str:
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) < 100:
        return f"{value:.0f}"  # a count (lost events, a rate held): no decimals to suggest precision
    for floor, shape in ((100, "{:,.0f}"), (10, "{:.1f}"), (0.1, "{:.2f}")):
        if abs(value) >= floor:
            return shape.format(value)
    return f"{value:.3f}"


def previous_run(quick: bool) -> dict | None:
    """The latest saved run of the same kind (a quick run is compared with quick runs only)."""
    for path in sorted(RESULTS.glob("*.json"), reverse=True):
        run = json.loads(path.read_text())
        if run.get("quick", False) == quick:
            return run
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short runs: instruments checked, figures not meant")
    args = parser.parse_args()
    rows = [row for path in sorted(ROWS.glob("*.json")) for row in json.loads(path.read_text())]
    if not rows:
        raise SystemExit(f"no rows in {ROWS}: run the benches first")
    before = previous_run(args.quick)
    earlier = {(r["bench"], r["figure"]): r["ours"] for r in before["rows"]} if before else {}
    header = ("bench", "figure", "unit", "ours", "peer or raw", "ratio", "target", "met",
              f"ours, {before['at']}" if before else "ours, last run")
    table = [header]
    for r in rows:
        target = Target(**r["target"]) if r["target"] else None
        table.append((r["bench"], r["figure"], r["unit"], number(r["ours"]),
                      f"{number(r['peer'])} {r['peer_name']}".strip() if r["peer"] is not None else "–",
                      number(r["ratio"]), str(target) if target else "–",
                      {True: "yes", False: "NO", None: "–"}[r["met"]], number(earlier.get((r["bench"], r["figure"])))))
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for n, line in enumerate(table):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))
    targets = [r for r in rows if r["met"] is not None]
    print(f"\ntargets met: {sum(r['met'] for r in targets)} of {len(targets)}"
          + ("  (a quick run: it checks the instruments; its figures mean nothing)" if args.quick else ""))
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = RESULTS / f"{at}.json"
    path.write_text(json.dumps({"at": at, "quick": args.quick, "rows": rows}, indent=1))
    print(f"saved as {path.relative_to(RESULTS.parents[1])}")


if __name__ == "__main__":
    main()
