"""The lint baseline: what ruff and mypy may still find, per file / per module.

The baseline lives in pyproject.toml between ``# BEGIN lint baseline`` and ``# END lint
baseline``: a ``[tool.ruff.lint.extend-per-file-ignores]`` table (file -> rule codes) and
one ``[[tool.mypy.overrides]]`` entry (modules whose errors are ignored).  It may only
shrink.

Usage (from the repository root, with ruff and mypy installed: the ``dev`` extra)::

    python .ci/lint_baseline.py           # check: fails on entries no longer needed
    python .ci/lint_baseline.py --write   # set the baseline to today's findings
    python .ci/lint_baseline.py --fix     # the tree-wide pass: ruff format, ruff check
                                          # --fix (baseline disabled, so baselined files
                                          # get their safe fixes too), format, --write

The check runs ruff and mypy *without* the baseline and compares: an entry whose file,
rule or module is clean now is stale (remove it: the run prints the new block, or run
``--write``).  Findings outside the baseline make ``ruff check`` / ``mypy`` themselves
fail in .ci/run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
BEGIN, END = "# BEGIN lint baseline", "# END lint baseline"
_ERROR = re.compile(r"^(?P<path>[^:]+\.py):\d+(?::\d+)?: error: .*\[(?P<code>[\w-]+)\]$")


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: pip install -e '.[dev]'")
    return found


def _split(text: str) -> tuple[str, str, str]:
    start = text.index(BEGIN)
    end = text.index(END, start) + len(END)
    return text[:start], text[start:end], text[end:]


def current_baseline(text: str) -> tuple[dict[str, list[str]], list[str]]:
    _, block, _ = _split(text)
    data = tomllib.loads(block)
    ruff = data.get("tool", {}).get("ruff", {}).get("lint", {}).get("extend-per-file-ignores", {})
    mypy = [
        m
        for o in data.get("tool", {}).get("mypy", {}).get("overrides", [])
        if o.get("ignore_errors")
        for m in o.get("module", [])
    ]
    return {k: sorted(v) for k, v in ruff.items()}, sorted(mypy)


def _toml(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _overrides(settings: dict, prefix: str = "") -> list[str]:
    """``--config KEY = VALUE`` arguments reproducing ``[tool.ruff]`` settings."""
    args = []
    # ruff applies a later `select` over an earlier `ignore`: give ignores first
    for key, value in sorted(settings.items(), key=lambda kv: "ignore" not in kv[0]):
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and key != "per-file-ignores":
            args += _overrides(value, dotted + ".")
        else:
            args += ["--config", f"{dotted} = {_toml(value)}"]
    return args


def _ruff_without_baseline(text: str, *args: str) -> subprocess.CompletedProcess:
    head, _, tail = _split(text)
    settings = tomllib.loads(head + tail)["tool"]["ruff"]  # without the baseline
    return subprocess.run(
        [_tool("ruff"), "check", "--isolated", *_overrides(settings), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def ruff_findings(text: str) -> dict[str, list[str]]:
    out = _ruff_without_baseline(text, "--output-format", "json", ".")
    if out.returncode not in (0, 1):
        raise SystemExit(f"ruff failed:\n{out.stderr}")
    found: dict[str, set[str]] = {}
    for item in json.loads(out.stdout or "[]"):
        path = Path(item["filename"]).resolve().relative_to(ROOT).as_posix()
        found.setdefault(path, set()).add(item["code"] or "E999")
    return {k: sorted(v) for k, v in sorted(found.items())}


def mypy_findings(text: str) -> list[str]:
    head, _, tail = _split(text)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "pyproject.toml"
        config.write_text(head + tail, encoding="utf-8")
        out = subprocess.run(
            [_tool("mypy"), "--config-file", str(config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "MYPY_FORCE_COLOR": "0"},
        )
    modules = set()
    for line in out.stdout.splitlines():
        match = _ERROR.match(line.strip())
        if match:
            parts = Path(match["path"]).with_suffix("").parts
            modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    if out.returncode not in (0, 1) or (out.returncode == 1 and not modules):
        raise SystemExit(f"mypy failed:\n{out.stdout[-3000:]}{out.stderr[-3000:]}")
    return sorted(modules)


def render(ruff: dict[str, list[str]], mypy: list[str]) -> str:
    lines = [
        BEGIN + " -- written by `python .ci/lint_baseline.py --write`.",
        "# Known findings in code not yet cleaned, per file (ruff) and per module (mypy).  It may",
        "# only shrink: `python .ci/lint_baseline.py` (run by .ci/run) fails when an entry is no",
        "# longer needed, and ruff/mypy fail on anything new outside it.",
    ]
    if ruff:
        lines.append("[tool.ruff.lint.extend-per-file-ignores]")
        lines += [
            f'"{path}" = [{", ".join(json.dumps(c) for c in codes)}]'
            for path, codes in ruff.items()
        ]
    if mypy:
        lines += ["", "[[tool.mypy.overrides]]", "module = ["]
        lines += [f'    "{m}",' for m in mypy]
        lines += ["]", "ignore_errors = true"]
    lines.append(END)
    return "\n".join(lines)


def fix() -> None:
    """ruff format, then ruff's safe fixes everywhere (baseline disabled), then format."""
    text = PYPROJECT.read_text(encoding="utf-8")
    subprocess.run([_tool("ruff"), "format", "."], cwd=ROOT, check=True)
    out = _ruff_without_baseline(text, "--fix", "--quiet", ".")
    if out.returncode not in (0, 1):
        raise SystemExit(f"ruff --fix failed:\n{out.stderr}")
    subprocess.run([_tool("ruff"), "format", "."], cwd=ROOT, check=True)


def main() -> int:
    if "--fix" in sys.argv[1:]:
        fix()
    write = "--write" in sys.argv[1:] or "--fix" in sys.argv[1:]
    text = PYPROJECT.read_text(encoding="utf-8")
    ruff_now, mypy_now = ruff_findings(text), mypy_findings(text)
    if write:
        head, _, tail = _split(text)
        PYPROJECT.write_text(head + render(ruff_now, mypy_now) + tail, encoding="utf-8")
        n_rules = sum(len(v) for v in ruff_now.values())
        print(
            f"lint baseline: {len(ruff_now)} files / {n_rules} (file, rule) pairs for ruff, "
            f"{len(mypy_now)} modules for mypy"
        )
        return 0
    ruff_base, mypy_base = current_baseline(text)
    stale = [
        f"ruff {path}: {code}"
        for path, codes in ruff_base.items()
        for code in codes
        if code not in ruff_now.get(path, [])
    ]
    stale += [f"mypy {module}" for module in mypy_base if module not in mypy_now]
    missing = [
        f"ruff {path}: {code}"
        for path, codes in ruff_now.items()
        for code in codes
        if code not in ruff_base.get(path, [])
    ]
    missing += [f"mypy {module}" for module in mypy_now if module not in mypy_base]
    n_rules = sum(len(v) for v in ruff_base.values())
    print(
        f"lint baseline: {n_rules} (file, rule) pairs for ruff, {len(mypy_base)} modules for mypy"
    )
    if missing:
        print("new findings outside the baseline (fix them):\n  " + "\n  ".join(missing))
    if stale:
        print(
            "baseline entries no longer needed (the baseline only shrinks: remove them, "
            "or run `python .ci/lint_baseline.py --write`):\n  " + "\n  ".join(stale)
        )
    return 1 if stale or missing else 0


if __name__ == "__main__":
    sys.exit(main())
