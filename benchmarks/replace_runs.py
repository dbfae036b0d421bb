"""Put retrained runs in place of the runs they replace, in a runs table.

    python benchmarks/replace_runs.py TABLE NEW.csv [NEW2.csv ...] --archive OLD.csv

Each row of the NEW tables replaces the row of TABLE with the same key (dataset,
backbone, layers, d_emb, data_fraction, max_len, seed), at its place; every other line is
kept byte for byte.  The replaced lines are appended to ``--archive`` (created with the
header if absent), so what a table held before stays on record.  Both files are written
atomically.  Used to move in runs retrained elsewhere with a longer cap (docs/sweep.md,
"The runs table"; since 2026-12-02 `perflaw sweep` with a larger --max-steps retrains and
replaces capped runs in the table itself).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from perflaw.files import write_text
from perflaw.train.runs_table import key


def _key(header: list[str], line: str) -> tuple:
    return key(dict(zip(header, next(csv.reader([line])), strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table")
    ap.add_argument("new", nargs="+")
    ap.add_argument("--archive", required=True)
    a = ap.parse_args()
    head, *lines = Path(a.table).read_text().splitlines()
    header = next(csv.reader([head]))
    new: dict[tuple, str] = {}
    for path in a.new:
        h, *rows = Path(path).read_text().splitlines()
        if h != head:
            sys.exit(f"{path}: its columns differ from {a.table}'s")
        for line in rows:
            new[_key(header, line)] = line
    at = {_key(header, line): i for i, line in enumerate(lines)}
    missing = [k for k in new if k not in at]
    if missing:
        sys.exit(f"not in {a.table}: {missing}")
    old = [lines[at[k]] for k in new]
    for k, line in new.items():
        lines[at[k]] = line
    archive = Path(a.archive)
    kept = archive.read_text().splitlines() if archive.exists() else [head]
    if kept[0] != head:
        sys.exit(f"{archive}: its columns differ from {a.table}'s")
    write_text(archive, "\n".join(kept + old) + "\n")
    write_text(a.table, "\n".join([head, *lines]) + "\n")
    print(f"{a.table}: {len(new)} run(s) replaced; the old rows appended to {archive}")


if __name__ == "__main__":
    main()
