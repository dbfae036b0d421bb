"""Regenerate the tables of docs/validation.md from the benchmarks that stay in benchmarks/.

Every table of that page sits between ``<!-- validate:NAME -->`` and ``<!-- /validate:NAME -->``
and is the verbatim output of one command (a benchmark script, or the ``perflaw`` command a
user would run), followed by the command, its wall time and the machine's load. The prose
around the blocks is left as it is.

    python benchmarks/validate.py                 # the default sections (~26 min, loaded 2 cores)
    python benchmarks/validate.py --quick         # the quick accuracy sections only
    python benchmarks/validate.py --only coverage,srt
    python benchmarks/validate.py --list          # every section and its command

The slow sections (long simulations, training, 20M-row logs, a GPU) are not in the default
set; each runs with ``--only NAME`` on a machine that suits it. Shared data (the published
Performance-Law grid, the srt runs, ml-100k) is read from ``../shared/data`` beside the
checkout, or from ``$PERFLAW_SHARED_DATA``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE, STDOUT, run

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "validation.md"
SHARED = Path(os.environ.get("PERFLAW_SHARED_DATA") or ROOT.parent / "shared" / "data")


@dataclass(frozen=True)
class Section:
    name: str
    commands: tuple[str, ...]  # shell words, run from the repository root
    markdown: bool = False  # the output is Markdown (else it is shown as a text block)
    group: str = "quick"  # quick (accuracy, minutes) | studies | timing | slow


PERFLAW = "python -m perflaw"
GRID = "{shared}/runs/performance_law_grid.csv"  # the published Performance-Law panels
BUNDLED = "data/ml-latest-small-sweep.csv"
AMAZON = "benchmarks/data/amazon-beauty-sweep.csv"

SECTIONS = (
    Section(
        "bundled",
        (
            f"{PERFLAW} backtest {BUNDLED} --metric ndcg@10 --where data_fraction==1",
            f"{PERFLAW} fit {BUNDLED} --metric hr@10 --where data_fraction==1 --no-save",
            f"{PERFLAW} fit {BUNDLED} --metric ndcg@10 --where data_fraction==1 "
            "--backtest-axis d_emb --no-save",
        ),
    ),
    Section("panels", ("python benchmarks/backtest_panels.py {shared}/runs",), markdown=True),
    Section(
        "amazon",
        (
            f"{PERFLAW} fit {AMAZON} --metric hr@10 --backtest-axis d_emb --no-save",
            f"{PERFLAW} fit {AMAZON} --metric ndcg@10 --backtest-axis d_emb --no-save",
        ),
    ),
    Section("named", ("python benchmarks/named_runs.py",), markdown=True),
    Section("coverage", ("python benchmarks/calibration_coverage.py",), group="studies"),
    Section("srt", ("python benchmarks/srt_scaling.py",), group="studies"),
    Section("fit_speed", ("python benchmarks/bench_fit.py",), group="timing"),
    Section("scaling_speed", ("python benchmarks/bench_scaling.py",), group="timing"),
    Section("startup", ("python benchmarks/bench_startup.py",), group="timing"),
    Section(
        "loop",
        (f"python benchmarks/loop_simulation.py {GRID}",),
        group="studies",
    ),
    Section(
        "loop_noise",
        (f"python benchmarks/loop_simulation.py {GRID} --noise 0.01",),
        group="slow",
    ),
    Section(
        "loop_stopping",
        (f"python benchmarks/loop_stopping.py {GRID}",),
        group="slow",
    ),
    Section("adaptive_real_log", ("python benchmarks/adaptive_real_log.py",)),
    Section("dprime_vs_size", ("python benchmarks/dprime_vs_size.py --markdown",), markdown=True),
    Section("claims", ("python benchmarks/bench_claims.py",), group="slow"),
    Section("selection", ("python benchmarks/selection_rule_sim.py --sims 100",), group="slow"),
    Section("apen", ("python benchmarks/bench_apen.py",), group="slow"),
    Section("scale", ("python benchmarks/bench_scale.py --rows 2e7",), group="slow"),
    Section("signals", ("python benchmarks/signal_stress.py",), group="slow"),
    Section(
        "loss",
        ("python benchmarks/bench_loss.py --log {shared}/ml-100k.parquet",),
        group="slow",
    ),
    Section(
        "pack",
        ("python benchmarks/bench_pack.py --log {shared}/ml-100k.parquet",),
        group="slow",
    ),
    Section(
        "compile",
        ("python benchmarks/bench_compile.py --log {shared}/ml-100k.parquet",),
        group="slow",
    ),
    Section(
        "trainer",
        ("python benchmarks/bench_trainer.py --log {shared}/ml-100k.parquet --recbole",),
        group="slow",
    ),
)


def _run(command: str) -> tuple[str, float]:
    """The command's output (stdout and stderr, as a user sees them) and its wall time."""
    words = command.format(shared=SHARED).split()
    if words[0] == "python":
        words[0] = sys.executable
    # the checkout's perflaw, not whichever one is installed: scripts put their own
    # folder first on sys.path, not the repository root
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    start = time.perf_counter()
    res = run(words, cwd=ROOT, env=env, stdout=PIPE, stderr=STDOUT, text=True, check=False)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{command} failed (exit {res.returncode}):\n{res.stdout[-3000:]}")
    # the page names paths as a reader's checkout has them, not as this machine does
    out = res.stdout.replace(str(SHARED), "../shared/data").replace(str(ROOT) + os.sep, "")
    return out.replace(str(ROOT), ".").rstrip(), wall


def render(section: Section) -> str:
    parts = []
    for command in section.commands:
        out, wall = _run(command)
        load = os.getloadavg()[0]
        shown = command.replace("{shared}", "../shared/data")
        if section.markdown:  # the script's headings sit under the page's section
            body = re.sub(r"^(#+) ", r"\1## ", out, flags=re.M)
        else:
            body = f"```text\n$ {shown}\n{out}\n```"
        parts.append(
            f"{body}\n\n_`{shown}`: {wall:.0f} s wall, load average {load:.1f} on "
            f"{os.cpu_count()} CPUs._"
        )
        print(f"  {section.name}: {shown} ({wall:.0f} s)", file=sys.stderr)
    return "\n\n".join(parts)


def replace_block(page: str, name: str, body: str) -> str:
    pattern = re.compile(
        rf"(<!-- validate:{re.escape(name)} -->\n).*?(\n<!-- /validate:{re.escape(name)} -->)",
        re.S,
    )
    if not pattern.search(page):
        raise SystemExit(f"{PAGE}: no block <!-- validate:{name} --> … <!-- /validate:{name} -->")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), page, count=1)


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated section names")
    ap.add_argument("--quick", action="store_true", help="the quick accuracy sections only")
    ap.add_argument("--all", action="store_true", help="every section, the slow ones too")
    ap.add_argument("--list", action="store_true", help="print the sections and exit")
    args = ap.parse_args()
    if args.list:
        for s in SECTIONS:
            print(f"{s.name:14} {s.group:8} " + " && ".join(s.commands))
        return
    names = {s.name for s in SECTIONS}
    if args.only:
        wanted = set(args.only.split(","))
        if wanted - names:
            raise SystemExit(f"unknown section(s): {', '.join(sorted(wanted - names))}")
        chosen = [s for s in SECTIONS if s.name in wanted]
    elif args.all:
        chosen = list(SECTIONS)
    else:
        groups = {"quick"} if args.quick else {"quick", "studies", "timing"}
        chosen = [s for s in SECTIONS if s.group in groups]
    page = PAGE.read_text(encoding="utf-8")
    start = time.perf_counter()
    for section in chosen:
        page = replace_block(page, section.name, render(section))
        write_atomically(PAGE, page)  # a long run keeps what it finished
    took = time.perf_counter() - start
    print(f"{PAGE.relative_to(ROOT)}: {len(chosen)} section(s) in {took:.0f} s")


if __name__ == "__main__":
    main()
