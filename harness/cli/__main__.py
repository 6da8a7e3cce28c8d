"""``python -m harness.cli`` (written by scripts/dev/regroup_harness.py)."""

from harness.cli.app import main

main()
