"""Every ``sh`` example in docs/api.md runs against a real server and answers sensibly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ApiServer

pytestmark = [pytest.mark.service]

DOC = Path(__file__).parents[3] / "docs" / "api.md"


def commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)
    lines = [ln for b in blocks for ln in b.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) >= 15, "docs/api.md lost its examples"
    return lines


def test_every_curl_example_runs(api: ApiServer, tmp_path: Path) -> None:
    # python3 in the examples is the test's interpreter (the one with pyarrow)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = dict(os.environ, API=api.url, PATH=path)
    for cmd in commands():
        p = subprocess.run(
            ["bash", "-c", f"set -euo pipefail; {cmd}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 0, (cmd, p.stderr)
        out = p.stdout.strip()
        assert out or " -o " in cmd, cmd
        if cmd.startswith("curl") and "|" not in cmd and " -o " not in cmd:
            doc = json.loads(out)
            if "flw" in cmd or "parsec" in cmd:
                assert set(doc) == {"error"}, cmd
            else:
                assert "error" not in doc and "error" not in json.dumps(
                    doc.get("results", [])[:1]
                ), cmd
        if cmd.startswith("python3"):
            rows, names = out.split(" ", 1)
            assert int(rows) == 3600 and "timestamp" in names
