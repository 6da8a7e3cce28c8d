"""Every twinbench workflow is a nox session; CI calls the same sessions a person does.

nox -s tests            # the test suite (what .ci/run runs)
nox -s scenario-stress  # the main job: stress scenario over the whole stack
nox -s lint typecheck   # ruff, mypy (strict on historian/)
nox -s bench            # benchmarks/, ratios against baselines in the same run
nox -s compression      # bytes/point regression gate against reports/baseline
nox -s deps-latest      # the tests against the newest releases (no lock)

Every session installs the locked versions in constraints.txt (refresh it with
`bash scripts/lock-deps.sh`), so a fresh machine runs what CI ran.
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]

# None = the interpreter nox itself runs on, so a fresh machine with any
# Python >= 3.11 works without pyenv.
PYTHON = None


def _system_deps(session: nox.Session) -> None:
    """Debian packages (mbpoll, postgresql, ...) through the one idempotent script."""
    session.run("bash", str(ROOT / "scripts" / "install-system-deps.sh"), external=True)


def _npm_deps(session: nox.Session) -> None:
    """Browser packages the trend viewer serves (uPlot) into node_modules/, locked."""
    session.run("bash", str(ROOT / "scripts" / "install-npm-deps.sh"), external=True)


CONSTRAINTS = ROOT / "constraints.txt"


def _install(session: nox.Session, extras: str = "test", *, locked: bool = True) -> None:
    lock = ["-c", str(CONSTRAINTS)] if locked else []
    session.install(*lock, "-e", f".[{extras}]")


PYTEST_DEFAULT = ["-m", "not soak", "-p", "no:cacheprovider", "--durations=15"]
DOCTESTS = [
    "--doctest-modules",
    "-p",
    "no:cacheprovider",
    # the locust file patches the interpreter for gevent when imported
    "--ignore=harness/load/locustfile.py",
    "historian",
    "harness",
    "sim",
    "scenarios",
]
"""The examples in the docstrings (``>>>``) are run too, so they stay true."""


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The default test run (< 20 min on 2 cores); soak tests are excluded."""
    _system_deps(session)
    _npm_deps(session)
    _install(session)
    session.run("pytest", *(session.posargs or PYTEST_DEFAULT))
    if not session.posargs:
        session.run("pytest", *DOCTESTS)


@nox.session(python=PYTHON, name="deps-latest")
def deps_latest(session: nox.Session) -> None:
    """The default tests against the newest releases pyproject.toml allows (no lock)."""
    _system_deps(session)
    _npm_deps(session)
    _install(session, locked=False)
    session.run("pip", "list", "--format=freeze")
    session.run("pytest", *(session.posargs or PYTEST_DEFAULT))


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """Long crash/soak runs, kept out of the default test run; includes the 10-minute chaos
    scenario (`TWINBENCH_CHAOS_S=180 nox -s soak -- -k chaos` for another length; run as
    root, or its disk-full faults are skipped and the report says so)."""
    _system_deps(session)
    _npm_deps(session)  # report.html inlines uPlot
    _install(session)
    session.run("pytest", "-m", "soak", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("-c", str(CONSTRAINTS), "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    _install(session, "dev")
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Runs every benchmarks/bench_*.py; each prints ratios against its baseline."""
    _system_deps(session)
    _npm_deps(session)
    _install(session, "test,bench")
    scripts = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    if not scripts:
        session.log("benchmarks/ holds no bench_*.py yet: nothing to measure")
        return
    for script in scripts:
        session.run("python", str(script), *session.posargs)


@nox.session(python=PYTHON, name="load-api")
def load_api(session: nox.Session) -> None:
    """Locust's trend/dashboard mix, headless, against a served store while it ingests."""
    _install(session)
    session.run("python", "-m", "harness.load.locustfile", *session.posargs)


@nox.session(python=PYTHON)
def compression(session: nox.Session) -> None:
    """Bytes/point regression gate against reports/baseline/compression.json."""
    _install(session)
    session.run("twinbench", "compression", "check", *session.posargs)


@nox.session(python=PYTHON, name="scenario-stress")
def scenario_stress(session: nox.Session) -> None:
    """The main job: the stress scenario over the embedded stack, ending in a scored report."""
    _system_deps(session)
    _npm_deps(session)  # report.html inlines uPlot
    _install(session)
    session.run("twinbench", "scenario", "run", "stress", *session.posargs)


@nox.session(python=PYTHON)
def scenarios(session: nox.Session) -> None:
    """Every scenario, briefly."""
    _system_deps(session)
    _npm_deps(session)  # report.html inlines uPlot
    _install(session)
    session.run("twinbench", "scenario", "run-all", "--short", *session.posargs)
