"""The ``twinbench`` command line (``harness.cli.app``), one module per command group.

``main`` is here because installed console scripts name ``harness.cli:main``
(written by scripts/dev/regroup_harness.py).
It imports the app when called: importing it with the package would make
``python -m harness.cli.app`` warn that the module was already imported.
"""


def main() -> None:
    from harness.cli.app import main as run

    run()
