"""Cost of OPC UA secure mode: session set-up and bulk Read, secure beside plain.

    python benchmarks/bench_opcua_security.py [--quick] [--json]

Two plant servers in this process over the same 2,000-tag catalogue slice: one with
``security="none"`` (the None endpoint, anonymous) and one in secure mode
(Basic256Sha256 SignAndEncrypt, a user checked against a scrypt hash from a users
file). For each, measured alternately in one run so load drift hits both alike:

1. connect: open the secure channel, create and activate the session, close it
   (median of N; secure includes the RSA handshake and the scrypt check);
2. read: values/s of bulk Read requests for all 2,000 values over one session
   (median of N passes of several requests).

Prints the plain figure, the secure figure and secure/plain. The server and the
client share the machine's cores (as on the project machine), so read throughput
counts both sides' encryption.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

logging.getLogger("asyncua").setLevel(logging.ERROR)  # per-connect session-timeout notes
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asyncua import Client, ua  # noqa: E402
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256  # noqa: E402

from historian.opcua.security import SecureModeConfig, ensure_certificate, hash_password  # noqa: E402
from sim.catalogue_gen import generate_profile  # noqa: E402
from sim.servers.opcua import OpcUaTwinServer  # noqa: E402
from sim.twin import PlantTwin  # noqa: E402

CLIENT_URI = "urn:twinbench:bench:client"


async def _client(server: OpcUaTwinServer, pair: Any | None) -> Client:
    # servers and clients share this event loop: a long watchdog, so a loop stall of a
    # loaded machine does not look like a dead server (asyncua's default is 1 s)
    c = Client(server.endpoint, timeout=30, watchdog_intervall=60.0)
    if pair is not None:
        c.application_uri = CLIENT_URI
        await c.set_security(
            SecurityPolicyBasic256Sha256, str(pair.certificate), str(pair.private_key),
            mode=ua.MessageSecurityMode.SignAndEncrypt,
        )  # fmt: skip
        c.set_user("bench")
        c.set_password("b3nch")
    return c


async def _connect_s(server: OpcUaTwinServer, pair: Any | None) -> float:
    c = await _client(server, pair)
    t = time.perf_counter()
    await c.connect()
    took = time.perf_counter() - t
    await c.disconnect()
    return took


async def _read_rate(client: Client, nodes: list[Any], requests: int) -> float:
    params = ua.ReadParameters()
    params.NodesToRead = [
        ua.ReadValueId(NodeId=n, AttributeId=ua.AttributeIds.Value) for n in nodes
    ]
    t = time.perf_counter()
    for _ in range(requests):
        values = await client.uaclient.read(params)
        assert len(values) == len(nodes)
    return requests * len(nodes) / (time.perf_counter() - t)


async def main(quick: bool) -> dict[str, Any]:
    reps, requests = (3, 3) if quick else (7, 10)
    cat = generate_profile("peak", 0)  # 2,000 tags: one plant server process
    tmp = Path(tempfile.mkdtemp(prefix="bench-opcua-security-"))
    users = tmp / "users.toml"
    users.write_text(f'[users.bench]\npassword_hash = "{hash_password("b3nch")}"\n')
    pair = ensure_certificate(tmp / "client-pki", CLIENT_URI, "bench client", name="client")
    plain = OpcUaTwinServer(cat, PlantTwin(cat, 1, start_ns=0), fast_notifications=False)
    secure = OpcUaTwinServer(
        cat, PlantTwin(cat, 1, start_ns=0), security="secure", secure=SecureModeConfig(users),
        pki_dir=tmp / "server-pki", fast_notifications=False,
    )  # fmt: skip
    await plain.start()
    await secure.start()
    try:
        connect: dict[str, list[float]] = {"plain": [], "secure": []}
        read: dict[str, list[float]] = {"plain": [], "secure": []}
        sessions = {
            "plain": await _client(plain, None),
            "secure": await _client(secure, pair),
        }
        for c in sessions.values():
            await c.connect()
        servers = {"plain": (plain, None), "secure": (secure, pair)}
        for rep in range(reps):  # alternate (order too), so load drift hits both alike
            for name in ("plain", "secure") if rep % 2 == 0 else ("secure", "plain"):
                srv, client_pair = servers[name]
                connect[name].append(await _connect_s(srv, client_pair))
                read[name].append(await _read_rate(sessions[name], srv.node_ids, requests))
        for c in sessions.values():
            await c.disconnect()
    finally:
        await plain.stop()
        await secure.stop()
    out: dict[str, Any] = {"host": socket.gethostname(), "tags": len(cat), "reps": reps}
    for metric, data, unit in (("connect_ms", connect, 1e3), ("read_values_per_s", read, 1.0)):
        p, s = statistics.median(data["plain"]) * unit, statistics.median(data["secure"]) * unit
        out[metric] = {"plain": round(p, 1), "secure": round(s, 1), "secure/plain": round(s / p, 2)}
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (CI smoke)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    result = asyncio.run(main(args.quick))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"OPC UA secure mode vs plain, {result['tags']} tags, median of {result['reps']}")
        for metric in ("connect_ms", "read_values_per_s"):
            r = result[metric]
            print(f"  {metric:<18} plain {r['plain']:>10,.1f}  secure {r['secure']:>10,.1f}"
                  f"  secure/plain {r['secure/plain']:.2f}")  # fmt: skip
