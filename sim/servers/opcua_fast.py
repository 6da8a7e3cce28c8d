"""Faster paths through asyncua 2.1 for a server that writes thousands of values per tick.

Measured on the project machine, stock asyncua delivers ~6-8 k notifications/s
per process; a deepcopy per monitored value and validating constructors per
DataValue dominate. These helpers keep asyncua's behaviour and skip the work that
is redundant for this server's values (fresh objects around immutable scalars).
``benchmarks/bench_sim.py`` measures the effect; ``tests/sim/servers/test_opcua.py``
holds the behaviour equal through a real client.
"""

from __future__ import annotations

from datetime import datetime
from importlib import metadata
from typing import Any

from asyncua import ua as _ua

# The patches below replace methods inside asyncua's monitored-item service, so they
# are only valid for the releases they were written and tested against. pyproject.toml
# bounds asyncua to the same range; this check catches an install that bypassed it.
SUPPORTED_ASYNCUA = ("2.1",)


class UnsupportedAsyncuaError(RuntimeError):
    """The installed asyncua is not a release whose internals these patches know."""


def check_asyncua_version(version: str | None = None) -> str:
    """Return the installed asyncua version; raise if its internals are not the known ones."""
    found = version if version is not None else metadata.version("asyncua")
    if not any(found == s or found.startswith(s + ".") for s in SUPPORTED_ASYNCUA):
        raise UnsupportedAsyncuaError(
            f"asyncua {found} is installed, but sim/servers/opcua_fast.py patches the internals "
            f"of asyncua {', '.join(SUPPORTED_ASYNCUA)}.x only; install the locked version "
            "(pip install -c constraints.txt -e .) or port the patches and extend SUPPORTED_ASYNCUA"
        )
    return found


NULL_VARIANT = _ua.Variant(None, _ua.VariantType.Null)


def fast_variant(value: Any, vtype: Any) -> Any:
    """A scalar Variant without ``__post_init__`` (the caller guarantees the type)."""
    v = object.__new__(_ua.Variant)
    v.Value, v.VariantType, v.Dimensions, v.is_array = value, vtype, None, False
    return v


def fast_datavalue(var: Any, status: Any, source_ts: datetime, server_ts: datetime) -> Any:
    dv = object.__new__(_ua.DataValue)
    dv.Encoding, dv.Value, dv.StatusCode = 0, var, status  # type: ignore[assignment]
    dv.SourceTimestamp, dv.ServerTimestamp = source_ts, server_ts  # type: ignore[assignment]
    dv.SourcePicoseconds = dv.ServerPicoseconds = None
    return dv


_IMMUTABLE_SCALARS = (float, int, bool, str, bytes, type(None))


def install_fast_datachange() -> None:
    """Skip asyncua's deepcopy of every monitored value when the value is an immutable scalar.

    asyncua copies each DataValue into every monitored item so a caller that later
    mutates the object in place cannot change what subscribers see; that copy is
    most of the cost of a notification (field notes: ~6-8 k/s stock). This server
    builds a fresh DataValue per write around immutable scalars (floats, bools,
    datetimes, a shared never-mutated StatusCode), so keeping a reference is safe.
    Anything else (arrays, structures) is still deep-copied. Idempotent.
    """
    check_asyncua_version()
    from asyncua.server import monitored_item_service as mis

    cls = mis.MonitoredItemValues
    for owner, attr in (
        (cls, "set_current_datavalue"),
        (mis.MonitoredItemService, "datachange_callback"),
        (mis.MonitoredItemService, "_is_data_changed"),
        (mis.MonitoredItemService, "_is_deadband_exceeded"),
    ):
        if not hasattr(owner, attr):
            raise UnsupportedAsyncuaError(
                f"asyncua {metadata.version('asyncua')}: {owner.__name__}.{attr} is gone; "
                "the fast data-change patch in sim/servers/opcua_fast.py must be ported"
            )
    if getattr(cls, "_twinbench_fast", False):
        return
    deep = cls.set_current_datavalue

    def set_current_datavalue(self: Any, cur_val: Any) -> None:
        var = cur_val.Value
        if var is None or (not var.is_array and isinstance(var.Value, _IMMUTABLE_SCALARS)):
            self.old_dvalue = self.current_dvalue
            self.current_dvalue = cur_val
        else:
            deep(self, cur_val)

    cls.set_current_datavalue = set_current_datavalue  # type: ignore[method-assign]
    cls._twinbench_fast = True  # type: ignore[attr-defined]

    # The stock callback builds a MonitoredItemNotification with a default DataValue
    # (whose Variant guesses its type through enum lookups) for every change, even
    # filtered ones: about half its cost. Same logic, notification built only when sent.
    service = mis.MonitoredItemService
    stock_callback = service.datachange_callback
    disabled = _ua.MonitoringMode.Disabled
    status_value = _ua.DataChangeTrigger.StatusValue
    notification = _ua.MonitoredItemNotification

    async def datachange_callback(self: Any, handle: int, value: Any, error: Any = None) -> None:
        if error:
            await stock_callback(self, handle, value, error)
            return
        mid = self._monitored_datachange[handle]
        mdata = self._monitored_items[mid]
        if mdata.mode == disabled:
            return
        mdata.mvalue.set_current_datavalue(value)
        flt = mdata.filter
        if flt:
            send = self._is_data_changed(mdata.mvalue, flt.Trigger) and self._is_deadband_exceeded(
                mdata.mvalue, flt
            )
        else:
            send = self._is_data_changed(mdata.mvalue, status_value)
        if send:
            event = notification(ClientHandle=mdata.client_handle, Value=value)
            await self.isub.enqueue_datachange_event(mid, event, mdata.queue_size)

    service.datachange_callback = datachange_callback  # type: ignore[method-assign]
