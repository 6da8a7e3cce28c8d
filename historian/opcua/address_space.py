"""The historian's OPC UA address space: one historized variable per catalogue tag.

Namespace ``urn:twinbench:historian``. A tag ``acme.site.area.line.cell.pump.flow``
becomes the variable ``ns=<i>;s=acme.site.area.line.cell.pump.flow`` (BrowseName
``flow``) inside one folder per leading path segment
(``s=acme``, ``s=acme.site``, ... under Objects: the ISA-95 tree). Each variable:

* Value: the tag's newest point (value, StatusCode, source timestamp), kept
  current by :mod:`historian.opcua.frontend`;
* Historizing = true; AccessLevel and UserAccessLevel = CurrentRead | HistoryRead;
* EngineeringUnits (EUInformation, the catalogue unit as DisplayName, UnitId -1:
  the catalogue holds no UNECE code) and EURange (low..high), when the catalogue
  has them;
* ``HAConfiguration`` (HistoricalDataConfigurationType, referenced with
  HasHistoricalConfiguration): Stepped, Definition (the catalogue description),
  MinTimeInterval 0 (every value is stored), ExceptionDeviation (the catalogue
  ``excdev``, AbsoluteValue) and its AggregateConfiguration (the server defaults).
  MaxTimeInterval is left out: the catalogue does not know a tag's heartbeat.

Server capabilities: HistoryServerCapabilities says what HistoryRead supports
(data yes, events/updates no, MaxReturnDataValues); both AggregateFunctions
folders organise the 36 Part 13 aggregates; OperationLimits and
MaxHistoryContinuationPoints carry :class:`~historian.opcua.service.HistoryLimits`.
"""

from __future__ import annotations

from typing import Any

from historian.catalogue import TagInfo
from historian.opcua.encoding import ua
from historian.opcua.service import HistoryLimits
from historian.query.part13 import AGGREGATES, AggregateConfiguration

NAMESPACE = "urn:twinbench:historian"
VARIANT = {
    "float64": ua.VariantType.Double,
    "float32": ua.VariantType.Float,
    "int16": ua.VariantType.Double,  # scaled registers: the engineering value is not integral
    "bool": ua.VariantType.Boolean,
}
_ACCESS = ua.AccessLevel.CurrentRead.mask | ua.AccessLevel.HistoryRead.mask


def folder_ids(tags: list[TagInfo]) -> dict[str, str]:
    """Path prefix -> folder node id string; a prefix that is also a tag name gets ``#``."""
    names = {t.name for t in tags}
    out: dict[str, str] = {}
    for t in tags:
        segs = t.name.split(".")
        for level in range(1, len(segs)):
            prefix = ".".join(segs[:level])
            out.setdefault(prefix, prefix + "#" if prefix in names else prefix)
    return out


def initial_value(tag: TagInfo) -> Any:
    vt = VARIANT.get(tag.dtype, ua.VariantType.Double)
    return ua.Variant(False if vt == ua.VariantType.Boolean else 0.0, vt)


async def build(server: Any, tags: list[TagInfo], ns: int) -> dict[Any, TagInfo]:
    """Create folders and variables; return NodeId -> tag of every variable."""
    folders: dict[str, Any] = {"": server.nodes.objects}
    fid = folder_ids(tags)
    out: dict[Any, TagInfo] = {}
    for tag in tags:
        segs = tag.name.split(".")
        for level in range(1, len(segs)):
            prefix = ".".join(segs[:level])
            if prefix not in folders:
                parent = folders[".".join(segs[: level - 1])]
                folders[prefix] = await parent.add_folder(
                    ua.NodeId(fid[prefix], ns), ua.QualifiedName(segs[level - 1], ns)
                )
        parent = folders[".".join(segs[:-1])]
        nid = ua.NodeId(tag.name, ns)
        vt = VARIANT.get(tag.dtype, ua.VariantType.Double)
        var = await parent.add_variable(
            nid, ua.QualifiedName(segs[-1], ns), initial_value(tag), varianttype=vt
        )
        for attr, value, vtype in (
            (ua.AttributeIds.Historizing, True, ua.VariantType.Boolean),
            (ua.AttributeIds.AccessLevel, _ACCESS, ua.VariantType.Byte),
            (ua.AttributeIds.UserAccessLevel, _ACCESS, ua.VariantType.Byte),
        ):
            await var.write_attribute(attr, ua.DataValue(ua.Variant(value, vtype)))
        if tag.description:
            await var.write_attribute(
                ua.AttributeIds.Description,
                ua.DataValue(ua.Variant(ua.LocalizedText(tag.description))),
            )
        await _properties(var, tag, ns)
        await _ha_configuration(var, tag, ns)
        out[nid] = tag
    return out


async def _properties(var: Any, tag: TagInfo, ns: int) -> None:
    if tag.unit:
        eu = ua.EUInformation(
            NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
            UnitId=-1,
            DisplayName=ua.LocalizedText(tag.unit),
            Description=ua.LocalizedText(tag.unit),
        )
        await var.add_property(
            ua.NodeId(f"{tag.name}#EngineeringUnits", ns),
            ua.QualifiedName("EngineeringUnits", 0),
            eu,
            datatype=ua.NodeId(ua.ObjectIds.EUInformation),
        )
    if tag.low is not None and tag.high is not None:
        await var.add_property(
            ua.NodeId(f"{tag.name}#EURange", ns),
            ua.QualifiedName("EURange", 0),
            ua.Range(Low=tag.low, High=tag.high),
            datatype=ua.NodeId(ua.ObjectIds.Range),
        )


async def _ha_configuration(var: Any, tag: TagInfo, ns: int) -> None:
    ha_id = ua.NodeId(f"{tag.name}#HAConfiguration", ns)
    ha = await var.add_object(
        ha_id,
        ua.QualifiedName("HAConfiguration", 0),
        objecttype=ua.ObjectIds.HistoricalDataConfigurationType,
        instantiate_optional=False,
    )
    # Part 11, 5.2.2: the configuration hangs off the variable by HasHistoricalConfiguration
    await var.add_reference(ha_id, ua.ObjectIds.HasHistoricalConfiguration, forward=True)
    await var.delete_reference(ha_id, ua.ObjectIds.HasComponent, forward=True)
    stepped = await ha.get_child("0:Stepped")
    await stepped.write_value(ua.Variant(bool(tag.stepped), ua.VariantType.Boolean))
    defaults = AggregateConfiguration()
    agg = await ha.get_child("0:AggregateConfiguration")
    for name, value, vt in (
        ("TreatUncertainAsBad", defaults.treat_uncertain_as_bad, ua.VariantType.Boolean),
        ("PercentDataBad", int(defaults.percent_data_bad), ua.VariantType.Byte),
        ("PercentDataGood", int(defaults.percent_data_good), ua.VariantType.Byte),
        ("UseSlopedExtrapolation", defaults.use_sloped_extrapolation, ua.VariantType.Boolean),
    ):
        await (await agg.get_child(f"0:{name}")).write_value(ua.Variant(value, vt))
    optional: list[tuple[str, Any, Any]] = [
        ("Definition", tag.description or f"twinbench historian series {tag.id}", None),
        ("MinTimeInterval", 0.0, ua.VariantType.Double),
    ]
    if tag.excdev is not None:
        optional.append(("ExceptionDeviation", float(tag.excdev), ua.VariantType.Double))
        optional.append(("ExceptionDeviationFormat", 0, ua.VariantType.Int32))  # AbsoluteValue
    for name, value, vt in optional:
        await ha.add_property(
            ua.NodeId(f"{tag.name}#HAConfiguration.{name}", ns),
            ua.QualifiedName(name, 0),
            ua.Variant(value, vt) if vt is not None else value,
        )


async def publish_capabilities(server: Any, limits: HistoryLimits) -> None:
    """HistoryServerCapabilities, AggregateFunctions and the history operation limits."""
    ids = ua.ObjectIds
    caps: list[tuple[int, Any, Any]] = [
        (ids.HistoryServerCapabilities_AccessHistoryDataCapability, True, ua.VariantType.Boolean),
        (
            ids.HistoryServerCapabilities_AccessHistoryEventsCapability,
            False,
            ua.VariantType.Boolean,
        ),
        (ids.HistoryServerCapabilities_InsertDataCapability, False, ua.VariantType.Boolean),
        (ids.HistoryServerCapabilities_ReplaceDataCapability, False, ua.VariantType.Boolean),
        (ids.HistoryServerCapabilities_UpdateDataCapability, False, ua.VariantType.Boolean),
        (ids.HistoryServerCapabilities_DeleteRawCapability, False, ua.VariantType.Boolean),
        (ids.HistoryServerCapabilities_DeleteAtTimeCapability, False, ua.VariantType.Boolean),
        (ids.HistoryServerCapabilities_InsertAnnotationCapability, False, ua.VariantType.Boolean),
        (
            ids.HistoryServerCapabilities_MaxReturnDataValues,
            limits.max_values,
            ua.VariantType.UInt32,
        ),
        (ids.HistoryServerCapabilities_MaxReturnEventValues, 0, ua.VariantType.UInt32),
        (ids.HistoryServerCapabilities_ServerTimestampSupported, False, ua.VariantType.Boolean),
        (
            ids.Server_ServerCapabilities_OperationLimits_MaxNodesPerHistoryReadData,
            limits.max_nodes,
            ua.VariantType.UInt32,
        ),
        (
            ids.Server_ServerCapabilities_MaxHistoryContinuationPoints,
            limits.continuation_points,
            ua.VariantType.UInt16,
        ),
    ]
    aspace = server.iserver.aspace
    for nid, value, vt in caps:
        node = ua.NodeId(nid)
        if node in aspace:
            await server.get_node(node).write_value(ua.Variant(value, vt))
    for folder in (
        ids.HistoryServerCapabilities_AggregateFunctions,
        ids.Server_ServerCapabilities_AggregateFunctions,
    ):
        parent = server.get_node(ua.NodeId(folder))
        for fn in AGGREGATES.values():
            await parent.add_reference(ua.NodeId(fn.node_id), ua.ObjectIds.Organizes, forward=True)
