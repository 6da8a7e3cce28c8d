"""Network and process faults: an asyncio TCP fault proxy, and signals to our own processes.

`FaultProxy` listens on 127.0.0.1 (port 0 by default) and forwards every
connection to one upstream host:port. Its mode applies to all connections,
existing and new, and can be switched at any time:

| mode             | effect                                                     |
|------------------|------------------------------------------------------------|
| `Pass()`         | forward bytes unchanged                                    |
| `Latency(d, j)`  | chunk delivered `d +- uniform(j)` s after read, order kept |
| `Bandwidth(bps)` | each direction of each connection capped at `bps` B/s      |
| `Blackhole()`    | bytes swallowed both ways; connections stay open           |
| `Stall()`        | bytes held (back-pressure), delivered in order on heal     |
| `Reset()`        | existing connections RST on both sides; new ones RST       |
| `Refuse()`       | new connections closed at once (EOF); existing pass        |
| `SlowClose(d)`   | a close reaches the other side `d` s late                  |

Blackhole drops data for good (like a broken middlebox: protocols must detect
the dead link and reconnect); Stall is a partition TCP survives (retransmits
deliver everything after the heal). Scenarios drive the proxy while other code
runs: from inside an event loop (`await proxy.set_mode(...)`) or from any thread
(`proxy.set_mode_sync(...)`, or `FaultProxy.run_in_thread(...)` which owns a loop).

Process faults (`kill`, `pause`, `resume`, `paused`) refuse any PID this
process did not start.
"""

from harness.faults.process import NotOurProcessError, kill, pause, paused, resume
from harness.services.proxy import FaultProxy, ThreadedFaultProxy
from harness.services.proxy_modes import (
    Bandwidth,
    Blackhole,
    FaultMode,
    Latency,
    Pass,
    ProxyStats,
    Refuse,
    Reset,
    SlowClose,
    Stall,
)

__all__ = [
    "Bandwidth",
    "Blackhole",
    "FaultMode",
    "FaultProxy",
    "Latency",
    "NotOurProcessError",
    "Pass",
    "ProxyStats",
    "Refuse",
    "Reset",
    "SlowClose",
    "Stall",
    "ThreadedFaultProxy",
    "kill",
    "pause",
    "paused",
    "resume",
]
