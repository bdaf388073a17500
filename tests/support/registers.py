"""Large partnership registers for load tests and benchmarks, made from the gazetteer itself."""

from __future__ import annotations

import random
import sqlite3

from shared.places import ensure_index

HOMES = ["Köln", "Düsseldorf", "Frankfurt am Main", "Stuttgart", "Hamburg", "München", "Leipzig", "Dresden",
         "Hannover", "Bremen", "Nürnberg", "Dortmund", "Essen", "Bonn", "Mannheim", "Karlsruhe", "Augsburg",
         "Wiesbaden", "Kiel", "Erfurt"]


def register(size: int, seed: int = 12) -> bytes:
    """A register of about `size` bytes: twenty German home cities, partner cities drawn from the
    gazetteer's towns of 20,000+. Most rows are new partnerships; a name several towns share is
    rejected, a pair drawn twice is a duplicate."""
    rnd = random.Random(seed)
    db = sqlite3.connect(f"file:{ensure_index()}?mode=ro", uri=True)
    try:
        places = db.execute("SELECT name, country FROM place WHERE population > 20000 "
                            "AND name NOT LIKE '%,%' AND name NOT LIKE '%\"%' ORDER BY id").fetchall()
    finally:
        db.close()
    lines = ["home_city,home_country,partner_city,partner_country,year,kind,themes"]
    total = len(lines[0]) + 1
    while total < size:
        name, country = rnd.choice(places)
        lines.append(f"{rnd.choice(HOMES)},DE,{name},{country},{rnd.randint(1950, 2020)},twin,culture;economy")
        total += len(lines[-1].encode()) + 1
    return ("\n".join(lines) + "\n").encode()
