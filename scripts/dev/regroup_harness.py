#!/usr/bin/env python3
"""Group the flat ``harness/`` modules into packages by concept (issue 21), re-runnably.

    python scripts/dev/regroup_harness.py            # move and rewrite
    python scripts/dev/regroup_harness.py --check    # only say what it would do; exit 1 if anything

What it does, in order, each step idempotent (a second run changes nothing):

1. refuses to start when ``harness/`` or ``tests/harness/`` holds a top-level module
   or directory it has no rule for (a module another branch added): add it to
   ``MOVES`` / ``TEST_MOVES`` (or ``KEEP``) below and run again;
2. ``git mv`` every module and test to its new place (skipped when already there;
   refuses when both the old and the new file exist), creating the packages'
   ``__init__.py``; a module that moved one directory deeper gets its
   ``Path(__file__).resolve().parents[N]`` repository-root lookups one level up;
3. rewrites every reference in the tracked text files of the tree: dotted module
   names (imports, ``python -m`` strings, ``harness.cli:main`` entry points, doc
   cross-references) and file paths (``harness/report_md.py``), including tests;
4. writes the forwarders kept for documented commands (``FORWARDERS``) and the
   ``harness.cli`` package's ``main`` export and ``__main__``;
5. sorts the imports of the Python files it changed (``ruff check --select I --fix``)
   and formats them (``ruff format``), when ruff is on PATH.

Generated reports (``reports/``) are records of past runs and are left as they are, and
so is any line containing ``regroup:keep`` (a doc that names the old modules on purpose).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# old module (harness/<name>.py) -> new dotted module
MOVES: dict[str, str] = {
    # a scenario run: the runner, its phases, what it records and hands to scoring
    "runner": "harness.run.runner",
    "run_context": "harness.run.context",
    "run_faults": "harness.run.fault_schedule",
    "run_monitor": "harness.run.monitor",
    "run_result": "harness.run.result",
    "run_state": "harness.run.state",
    "run_status": "harness.run.status",
    "ramp": "harness.run.ramp",
    "scoring": "harness.run.scoring",
    "scenario_stack": "harness.run.scenario_stack",
    "secure_profile": "harness.run.secure_profile",
    "rejected": "harness.run.rejected",
    "edge_drain": "harness.run.edge_drain",
    "replay_scenario": "harness.run.replay_scenario",
    "api_scoring": "harness.run.api_scoring",
    "api_load": "harness.run.api_load",  # it runs locust against the run's historian
    "tier_storage": "harness.run.tier_storage",
    # open-model load: schedules, synthetic batches, the drivers, the API load mix
    "load": "harness.load",  # the package's one import point (harness/load/__init__.py)
    "schedule": "harness.load.schedule",
    "synthetic": "harness.load.synthetic",
    "driver": "harness.load.driver",
    "locustfile": "harness.load.locustfile",
    # the report: model, formatting, charts, renderers, writer
    "report": "harness.report.model",
    "report_format": "harness.report.format",
    "report_charts": "harness.report.charts",
    "svgplot": "harness.report.svgplot",
    "report_md": "harness.report.md",
    "report_html": "harness.report.html",
    "report_write": "harness.report.write",
    "report_api": "harness.report.api",
    # the real-protocol plant: simulator servers, collector processes, sensor faults
    "plant": "harness.plant.plant_load",
    "collector_process": "harness.plant.collector_process",
    "sensor_mix": "harness.plant.sensor_mix",
    # the twinbench command line
    "cli": "harness.cli.app",
    "cli_pipeline": "harness.cli.pipeline",
    "pipeline_status": "harness.cli.pipeline_status",
    "cli_report": "harness.cli.report",
    "cli_scenario": "harness.cli.scenario",
    "cli_services": "harness.cli.services",
}
# files that are not modules: old path -> new path (relative to harness/)
FILE_MOVES: dict[str, str] = {"report_charts.js": "report/charts.js"}
# stay where they are: the scenario model and what every layer of the harness uses
# (accounting: the run records into it and the report model shows it; in run/ it would
# make run <-> report a cycle)
KEEP = {"__init__.py", "py.typed", "scenario.py", "config.py", "logging.py", "metrics.py",
        "accounting.py", "metric_keys.py"}  # fmt: skip
PACKAGES = {"run", "load", "report", "plant", "cli", "services", "faults", "security",
            "shadow", "legacy"}  # fmt: skip

# tests/harness/<name>.py -> new place (relative to tests/harness/)
TEST_MOVES: dict[str, str] = {
    "test_edge.py": "run/test_edge.py",
    "test_secure_scenario.py": "run/test_secure_scenario.py",
    "test_load.py": "load/test_load.py",
    "virtual_clock.py": "load/virtual_clock.py",
    "test_api_load.py": "run/test_api_load.py",
    "test_report.py": "report/test_report.py",
    "test_report_browser.py": "report/test_report_browser.py",
    "test_report_charts.py": "report/test_report_charts.py",
    "test_report_layers.py": "report/test_report_layers.py",
    "test_svgplot.py": "report/test_svgplot.py",
    "test_collector_metrics.py": "plant/test_collector_metrics.py",
    "test_collector_opcua_secure.py": "plant/test_collector_opcua_secure.py",
    "test_collector_process.py": "plant/test_collector_process.py",
    "test_sensor_mix.py": "plant/test_sensor_mix.py",
    "test_cli_usage_errors.py": "cli/test_cli_usage_errors.py",
    "test_pipeline_status.py": "cli/test_pipeline_status.py",
    "test_process.py": "services/test_process.py",
    "test_services.py": "services/test_services.py",
    "test_faults.py": "faults/test_faults.py",
    "test_failover_cost.py": "faults/test_failover_cost.py",
}
TEST_KEEP = {"__init__.py", "conftest.py", "test_accounting.py", "test_config.py",
             "test_doctests.py", "test_logging.py", "test_metrics.py"}  # fmt: skip
TEST_PACKAGES = {"run", "load", "report", "plant", "cli", "services", "faults", "security",
                 "shadow", "legacy"}  # fmt: skip

# documented ``python -m`` commands (README/docs/deploy): a forwarder keeps each working
FORWARDERS = {"collector_process": "harness.plant.collector_process",
              "locustfile": "harness.load.locustfile"}  # fmt: skip
MARKER = "written by scripts/dev/regroup_harness.py"
FORWARDER = '''"""Forwarder for the documented command ``python -m harness.{old}``.

The module is :mod:`{new}`; this file keeps the command working
({marker}).
"""

import sys

if __name__ == "__main__":  # imported only when run: importing this file does nothing
    from {new} import main

    sys.exit(main())
'''
CLI_INIT = '''"""The ``twinbench`` command line (``harness.cli.app``), one module per command group.

``main`` is here because installed console scripts name ``harness.cli:main``
({marker}).
It imports the app when called: importing it with the package would make
``python -m harness.cli.app`` warn that the module was already imported.
"""


def main() -> None:
    from harness.cli.app import main as run

    run()
'''
CLI_MAIN = f'''"""``python -m harness.cli`` ({MARKER})."""

from harness.cli.app import main

main()
'''
PACKAGE_INIT = '"""{doc}"""\n'
PACKAGE_DOCS = {
    "run": "A scenario run: runner, fault schedule, monitor, result, scoring.",
    "load": None,  # harness/load.py itself becomes this package's __init__
    "report": "Run reports: model, formatting, charts, Markdown/HTML renderers, writer.",
    "plant": "The real-protocol plant: simulator servers, collector processes, sensor faults.",
    "cli": None,  # CLI_INIT
}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".yml", ".yaml", ".txt", ".js",
                 ".json", ".sh", ".html", ".css", ".rst", ""}  # fmt: skip
SKIP_DIRS = ("reports/", "node_modules/", ".venv/", ".git/")
KEEP_LINE = "regroup:keep"  # a line with this text is left as it is (e.g. docs naming old names)


class RegroupError(SystemExit):
    def __init__(self, message: str) -> None:
        super().__init__(f"regroup_harness: {message}")


def git(*args: str, check: bool = True) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    if check and out.returncode:
        raise RegroupError(f"git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def is_generated(path: Path) -> bool:
    return path.suffix == ".py" and path.exists() and MARKER in path.read_text()


# ----------------------------------------------------------------- 1. unknown modules
def check_known() -> None:
    unknown = []
    harness = ROOT / "harness"
    moved_dirs = {new.split(".")[1] for new in MOVES.values()}
    for entry in sorted(harness.iterdir()):
        name = entry.name
        if name == "__pycache__":
            continue
        if entry.is_dir():
            if name not in PACKAGES:
                unknown.append(f"harness/{name}/ (a package: add it to PACKAGES)")
        elif not (
            (name.endswith(".py") and name[:-3] in MOVES)
            or name in FILE_MOVES
            or name in KEEP
            or is_generated(entry)
        ):
            unknown.append(f"harness/{name} (add it to MOVES, FILE_MOVES or KEEP)")
    for entry in sorted((ROOT / "tests" / "harness").iterdir()):
        name = entry.name
        if name == "__pycache__":
            continue
        if entry.is_dir():
            if name not in TEST_PACKAGES:
                unknown.append(f"tests/harness/{name}/ (add it to TEST_PACKAGES)")
        elif name not in TEST_MOVES and name not in TEST_KEEP:
            unknown.append(f"tests/harness/{name} (add it to TEST_MOVES or TEST_KEEP)")
    assert moved_dirs <= PACKAGES | {"load"}
    if unknown:
        raise RegroupError(
            "no rule for these entries (a module added since the mapping was written?):\n  "
            + "\n  ".join(unknown)
            + "\nadd each to the mapping at the top of scripts/dev/regroup_harness.py "
            "(module -> its new dotted name), then run it again."
        )


# ---------------------------------------------------------------------- 2. moves
def new_path(dotted: str) -> Path:
    """harness.run.runner -> harness/run/runner.py; harness.load -> harness/load/__init__.py"""
    parts = dotted.split(".")
    if len(parts) == 2:
        return Path(*parts) / "__init__.py"
    return Path(*parts[:-1]) / f"{parts[-1]}.py"


def file_moves() -> list[tuple[Path, Path]]:
    out = [(Path("harness") / f"{old}.py", new_path(new)) for old, new in MOVES.items()]
    out += [(Path("harness") / old, Path("harness") / new) for old, new in FILE_MOVES.items()]
    out += [(Path("tests/harness") / old, Path("tests/harness") / new)
            for old, new in TEST_MOVES.items()]  # fmt: skip
    return out


PARENTS = re.compile(r"(Path\(__file__\)\.resolve\(\)\.parents\[)(\d+)(\])")


def move(src: Path, dst: Path, dry: bool, done: list[str]) -> None:
    s, d = ROOT / src, ROOT / dst
    if not s.exists() or is_generated(s):
        if not d.exists():
            raise RegroupError(f"neither {src} nor {dst} exists: fix the mapping")
        return
    if d.exists():
        raise RegroupError(
            f"both {src} and {dst} exist (a branch re-added the old module?): merge "
            f"{src} into {dst} by hand, delete {src}, run again"
        )
    done.append(f"git mv {src} {dst}")
    if dry:
        return
    d.parent.mkdir(parents=True, exist_ok=True)
    git("mv", str(src), str(dst))
    deeper = len(dst.parts) - len(src.parts)
    if deeper and dst.suffix == ".py":  # repository-root lookups: one level more
        text = d.read_text()
        fixed = PARENTS.sub(lambda m: f"{m[1]}{int(m[2]) + deeper}{m[3]}", text)
        if fixed != text:
            d.write_text(fixed)


def ensure_inits(dry: bool, done: list[str]) -> None:
    for pkg, doc in PACKAGE_DOCS.items():
        init = ROOT / "harness" / pkg / "__init__.py"
        if doc is not None and not init.exists():
            done.append(f"create {init.relative_to(ROOT)}")
            if not dry:
                init.parent.mkdir(parents=True, exist_ok=True)
                init.write_text(PACKAGE_INIT.format(doc=doc))
    for pkg in TEST_PACKAGES:
        init = ROOT / "tests" / "harness" / pkg / "__init__.py"
        if (init.parent.exists() or pkg in {Path(n).parts[0] for n in TEST_MOVES.values()}) and (
            not init.exists()
        ):
            done.append(f"create {init.relative_to(ROOT)}")
            if not dry:
                init.parent.mkdir(parents=True, exist_ok=True)
                init.write_text("")


# ------------------------------------------------------------------- 3. rewrite
# what a package made from an old module exports itself (so ``from harness.cli import main``
# is already the new layout)
PACKAGE_EXPORTS = {"harness.cli": {"main"}}


def rules(flat: set[str]) -> list[tuple[re.Pattern[str], str]]:
    """(pattern, replacement) for every old dotted name and path.

    ``flat``: the old modules whose file was still in ``harness/`` when this run
    started. An old name that is now a package's (``harness.report``,
    ``harness.cli``, ``harness.plant``) is ambiguous once the move is done: bare, it
    is the package. So bare ones are rewritten only while the old module is still
    there (the first run); afterwards only the forms that cannot mean the package:
    ``from harness.report import Report``, ``harness.report.Report``,
    ``harness.cli:main``.
    """
    out: list[tuple[re.Pattern[str], str]] = []
    new_children: dict[str, set[str]] = {}
    for new in MOVES.values():
        parent, _, child = new.rpartition(".")
        new_children.setdefault(parent, set()).add(child)
    for old, new in sorted(MOVES.items(), key=lambda kv: -len(kv[0])):
        dotted = f"harness.{old}"
        out.append((re.compile(rf"(?<![\w./-])harness/{re.escape(old)}\.py\b"),
                    str(new_path(new))))  # fmt: skip
        if dotted == new:
            continue  # harness.load: the module became its package, the name stays
        # an old name that is now a package (harness.report, harness.cli, harness.plant):
        # leave names that already point into the package, so a second run is a no-op
        children = new_children.get(dotted, set())
        if children:  # the package's own dunder modules are names inside it too
            children |= {"__init__", "__main__"}
        inside = "|".join(sorted(children))
        if not children or old in flat:
            guard = f"(?!\\.(?:{inside})\\b)" if children else ""
            out.append((re.compile(rf"(?<![\w.]){re.escape(dotted)}(?![\w]){guard}"), new))
            continue
        exports = "|".join(sorted(children | PACKAGE_EXPORTS.get(dotted, set())))
        name = re.escape(dotted)
        out.append((re.compile(rf"(?<![\w.]){name}(?=\.(?!(?:{inside})\b)[A-Za-z_]|:)"), new))
        out.append(
            (re.compile(rf"\bfrom {name} import (?!(?:{exports})\b)"), f"from {new} import ")
        )
    for old, new in FILE_MOVES.items():
        out.append((re.compile(rf"(?<![\w./-])harness/{re.escape(old)}\b"), f"harness/{new}"))
    for old, new in TEST_MOVES.items():
        stem, new_stem = old[:-3], new[:-3].replace("/", ".")
        out.append((re.compile(rf"(?<![\w.])tests\.harness\.{re.escape(stem)}(?![\w])"),
                    f"tests.harness.{new_stem}"))  # fmt: skip
        out.append((re.compile(rf"(?<![\w./-])tests/harness/{re.escape(old)}\b"),
                    f"tests/harness/{new}"))  # fmt: skip
    return out


# names the renamed modules use for each other's files, by bare name
# and lines the longer names would push past the line length inside ``# fmt: skip`` blocks
BARE = {
    "harness/report/charts.py": [('with_name("report_charts.js")', 'with_name("charts.js")')],
    "tests/harness/plant/test_collector_opcua_secure.py": [
        (
            '"harness.plant.collector_process", "--catalogue", cat, "--slice", "0:100",\n',
            '"harness.plant.collector_process",\n'
            '         "--catalogue", cat, "--slice", "0:100",\n',
        )
    ],
}


def tracked_text_files() -> list[Path]:
    files = []
    for rel in git("ls-files").splitlines():
        if rel.startswith(SKIP_DIRS) or Path(rel).suffix not in TEXT_SUFFIXES:
            continue
        path = ROOT / rel
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        files.append(path)
    return files


def rewrite(dry: bool, done: list[str], flat: set[str]) -> list[Path]:
    compiled = rules(flat)
    changed = []
    for path in tracked_text_files():
        rel = str(path.relative_to(ROOT))
        if rel == "scripts/dev/regroup_harness.py" or is_generated(path):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        lines = text.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if KEEP_LINE in line:  # says what the old names were, on purpose
                continue
            for pattern, repl in compiled:
                line = pattern.sub(repl, line)
            lines[i] = line
        new = "".join(lines)
        for a, b in BARE.get(rel, []):
            new = new.replace(a, b)
        if new != text:
            changed.append(path)
            done.append(f"rewrite {rel}")
            if not dry:
                path.write_text(new)
    return changed


# ---------------------------------------------------------------- 4. forwarders
def write_generated(dry: bool, done: list[str]) -> list[Path]:
    files = {ROOT / "harness" / f"{old}.py": FORWARDER.format(old=old, new=new, marker=MARKER)
             for old, new in FORWARDERS.items()}  # fmt: skip
    files[ROOT / "harness/cli/__init__.py"] = CLI_INIT.format(marker=MARKER)
    files[ROOT / "harness/cli/__main__.py"] = CLI_MAIN
    out = []
    for path, text in files.items():
        if path.exists() and path.read_text() == text:
            continue
        # before the moves (--check) the old module is still in the forwarder's place
        if not dry and path.exists() and path.read_text().strip() and not is_generated(path):
            raise RegroupError(f"{path.relative_to(ROOT)} exists and is not ours: merge by hand")
        done.append(f"write {path.relative_to(ROOT)}")
        out.append(path)
        if not dry:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            git("add", str(path.relative_to(ROOT)))
    return out


# --------------------------------------------------------------------- 5. tidy
def tidy(paths: list[Path]) -> None:
    py = [str(p.relative_to(ROOT)) for p in paths if p.suffix == ".py" and p.exists()]
    if not py:
        return
    ruff = shutil.which("ruff")
    if ruff is None:
        print("regroup_harness: ruff not on PATH; run `ruff check --select I --fix` and "
              "`ruff format` on the rewritten files", file=sys.stderr)  # fmt: skip
        return
    subprocess.run([ruff, "check", "--select", "I", "--fix", "--quiet", *py], cwd=ROOT)
    subprocess.run([ruff, "format", "--quiet", *py], cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="say what would change; change nothing")
    args = ap.parse_args(argv)
    check_known()
    flat = {old for old in MOVES if (ROOT / "harness" / f"{old}.py").exists()
            and not is_generated(ROOT / "harness" / f"{old}.py")}  # fmt: skip
    done: list[str] = []
    for src, dst in file_moves():
        move(src, dst, args.check, done)
    ensure_inits(args.check, done)
    changed = rewrite(args.check, done, flat)
    changed += write_generated(args.check, done)
    if not args.check:
        tidy(changed)
        git("add", "-A", "harness", "tests/harness")
    for line in done:
        print(line)
    print(f"regroup_harness: {len(done)} change(s){' needed' if args.check else ''}")
    return 1 if (args.check and done) else 0


if __name__ == "__main__":
    sys.exit(main())
