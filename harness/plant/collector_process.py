"""A collector as its own OS process: poll/subscribe a slice of the catalogue, publish to NATS.

    python -m harness.plant.collector_process --catalogue plant.toml --slice 0:2000 \\
        --protocol modbus --endpoint 127.0.0.1:5020 --nats nats://127.0.0.1:4222 \\
        --spool /tmp/spool-0 --source-id collector-0

A thin wrapper: the process itself is :mod:`historian.collect.process`
(``python -m historian.collect`` reads the catalogue's collector fields itself);
this entry point reads the catalogue with the simulator's reader (``sim.tags``,
which validates every field), which the historian must not import. Options,
``READY``, status lines, SIGTERM/SIGKILL and ``--metrics``: see that module.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from historian.collect.process import (
    add_collector_arguments,
    parse_collector_args,
    serve,
    slice_of,
)
from sim.tags import load_catalogue


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m harness.plant.collector_process", description=__doc__
    )
    ap.add_argument("--catalogue", type=Path, required=True)
    ap.add_argument("--slice", help="tag positions start:stop")
    add_collector_arguments(ap)
    args = parse_collector_args(ap, argv)
    cat = load_catalogue(args.catalogue)
    lo, hi = slice_of(args.slice, len(cat))
    # the catalogue and imports are long-lived (~100 k objects): frozen, collections no
    # longer scan them while the OPC UA decode allocates per reading (~0.9x its CPU)
    gc.collect()
    gc.freeze()
    return serve(args, cat.tags[lo:hi])


if __name__ == "__main__":
    sys.exit(main())
