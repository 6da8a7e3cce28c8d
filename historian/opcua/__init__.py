"""OPC UA Historical Access served from the historian (``historian serve --opcua``).

See ``docs/opcua.md``: the address space (:mod:`.address_space`), HistoryRead
(:mod:`.service`, :mod:`.raw`, :mod:`.processed`), continuation points
(:mod:`.continuation`), wire encoding (:mod:`.encoding`), the front end that
plugs it into the server process (:mod:`.frontend`) and secure mode, shared with
the plant servers (:mod:`.security`). Needs the ``server`` extra
(asyncua).
"""

from historian.opcua.frontend import OpcUaFrontEnd, parse_listen
from historian.opcua.service import HistorianHistoryManager, HistoryLimits

__all__ = ["HistorianHistoryManager", "HistoryLimits", "OpcUaFrontEnd", "parse_listen"]
