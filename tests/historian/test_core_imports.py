"""`import historian` (engine, codecs, query) works with only the core dependencies.

pyproject.toml's core `dependencies` are numpy, numba, pcodec, pyarrow and crc32c;
everything else comes with the `server`, `sim` or `harness` extras. The test runs a
fresh interpreter in which importing any non-core third-party package fails, then
imports every core module and does a write/read round trip. A core module that grows
an import of, say, nats or typer fails here with the module's name.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import historian

CORE_PACKAGES = ("codec", "lsm", "sstable", "wal", "query", "catalogue", "io")
CORE_MODULES = ("model", "options", "errors", "fs", "statuscodes")
# third-party packages of the extras (pyproject.toml [project.optional-dependencies])
EXTRA_ONLY = (
    "nats", "asyncua", "pymodbus", "scipy", "gekko", "simpy", "typer", "rich", "click",
    "structlog", "prometheus_client", "psutil", "moto", "boto3", "psycopg", "locust",
    "hdrh", "cryptography",
)  # fmt: skip


def core_modules() -> list[str]:
    root = Path(historian.__file__).parent
    names = [f"historian.{m}" for m in CORE_MODULES if (root / f"{m}.py").exists()]
    for pkg in CORE_PACKAGES:
        if not (root / pkg).is_dir():
            continue
        names.append(f"historian.{pkg}")
        for info in pkgutil.walk_packages([str(root / pkg)], prefix=f"historian.{pkg}."):
            leaf = info.name.rsplit(".", 1)[-1]
            if not leaf.startswith(("cli", "commands")):  # command lines need typer
                names.append(info.name)
    return names


SCRIPT = """
import importlib, sys
blocked = set({blocked!r})

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{{name}} is not a core dependency of historian")
        return None

sys.meta_path.insert(0, Block())
for mod in {modules!r}:
    importlib.import_module(mod)
import tempfile
from historian import Historian, Options
db = Historian.open(tempfile.mkdtemp())
db.write_arrays([1, 1], [1_000, 2_000], [1.0, 2.0])
assert db.read(1, 0, 3_000)[1].tolist() == [1.0, 2.0]
db.close()
print("ok", len({modules!r}))
"""


def test_core_imports_without_extras() -> None:
    modules = core_modules()
    assert "historian.lsm.engine" in modules and "historian.codec.chunk" in modules
    code = SCRIPT.format(blocked=EXTRA_ONLY, modules=modules)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok ")
