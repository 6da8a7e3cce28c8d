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

import asyncio
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


def _variable(
    parent: Any,
    nid: Any,
    qname: Any,
    value: Any,
    datatype: int,
    *,
    prop: bool = False,
    access: int = ua.AccessLevel.CurrentRead.mask,
    historizing: bool = False,
    description: str = "",
) -> Any:
    item = ua.AddNodesItem()
    item.RequestedNewNodeId, item.BrowseName, item.ParentNodeId = nid, qname, parent
    item.NodeClass = ua.NodeClass.Variable
    item.ReferenceTypeId = ua.NodeId(
        ua.ObjectIds.HasProperty if prop else ua.ObjectIds.HasComponent
    )
    item.TypeDefinition = ua.NodeId(
        ua.ObjectIds.PropertyType if prop else ua.ObjectIds.BaseDataVariableType
    )
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(qname.Name)
    attrs.Description = ua.LocalizedText(description or qname.Name)
    attrs.DataType = ua.NodeId(datatype)
    attrs.Value = value
    attrs.ValueRank = ua.ValueRank.Scalar
    attrs.ArrayDimensions = None
    attrs.WriteMask = attrs.UserWriteMask = 0
    attrs.Historizing = historizing
    attrs.AccessLevel = attrs.UserAccessLevel = access
    item.NodeAttributes = attrs
    return item


def _object(parent: Any, nid: Any, qname: Any, typedef: int, reftype: int) -> Any:
    item = ua.AddNodesItem()
    item.RequestedNewNodeId, item.BrowseName, item.ParentNodeId = nid, qname, parent
    item.NodeClass = ua.NodeClass.Object
    item.ReferenceTypeId = ua.NodeId(reftype)
    item.TypeDefinition = ua.NodeId(typedef)
    attrs = ua.ObjectAttributes()
    attrs.EventNotifier = 0
    attrs.DisplayName = attrs.Description = ua.LocalizedText(qname.Name)
    attrs.WriteMask = attrs.UserWriteMask = 0
    item.NodeAttributes = attrs
    return item


_DATATYPE = {
    ua.VariantType.Double: ua.ObjectIds.Double,
    ua.VariantType.Float: ua.ObjectIds.Float,
    ua.VariantType.Boolean: ua.ObjectIds.Boolean,
}
_CHUNK = 2_000  # AddNodes items per call; the event loop runs between calls


async def build(server: Any, tags: list[TagInfo], ns: int) -> dict[Any, TagInfo]:
    """Create folders and variables; return NodeId -> tag of every variable.

    The nodes go in as bulk AddNodes items (asyncua's ``add_object`` instantiates a
    type by browsing it, ~0.1 s per HAConfiguration: minutes for a large catalogue).
    """
    fid = folder_ids(tags)
    items: list[Any] = []
    made: set[str] = set()
    out: dict[Any, TagInfo] = {}
    objects = ua.NodeId(ua.ObjectIds.ObjectsFolder)
    for tag in tags:
        segs = tag.name.split(".")
        parent = objects
        for level in range(1, len(segs)):
            prefix = ".".join(segs[:level])
            node = ua.NodeId(fid[prefix], ns)
            if prefix not in made:
                made.add(prefix)
                qname = ua.QualifiedName(segs[level - 1], ns)
                items.append(_object(parent, node, qname, ua.ObjectIds.FolderType, 35))  # Organizes
            parent = node
        nid = ua.NodeId(tag.name, ns)
        vt = VARIANT.get(tag.dtype, ua.VariantType.Double)
        items.append(
            _variable(
                parent, nid, ua.QualifiedName(segs[-1], ns), initial_value(tag), _DATATYPE[vt],
                access=_ACCESS, historizing=True, description=tag.description,
            )
        )  # fmt: skip
        items += _properties(nid, tag, ns)
        items += _ha_configuration(nid, tag, ns)
        out[nid] = tag
    for k in range(0, len(items), _CHUNK):
        results = await server.iserver.isession.add_nodes(items[k : k + _CHUNK])
        for item, r in zip(items[k : k + _CHUNK], results, strict=True):
            if not r.StatusCode.is_good():
                raise RuntimeError(f"adding {item.RequestedNewNodeId}: {r.StatusCode.name}")
        await asyncio.sleep(0)
    return out


def _properties(nid: Any, tag: TagInfo, ns: int) -> list[Any]:
    items = []
    if tag.unit:
        eu = ua.EUInformation(
            NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
            UnitId=-1,
            DisplayName=ua.LocalizedText(tag.unit),
            Description=ua.LocalizedText(tag.unit),
        )
        items.append(
            _variable(
                nid, ua.NodeId(f"{tag.name}#EngineeringUnits", ns),
                ua.QualifiedName("EngineeringUnits", 0), ua.Variant(eu), ua.ObjectIds.EUInformation,
                prop=True,
            )
        )  # fmt: skip
    if tag.low is not None and tag.high is not None:
        rng = ua.Range(Low=tag.low, High=tag.high)
        items.append(
            _variable(
                nid, ua.NodeId(f"{tag.name}#EURange", ns), ua.QualifiedName("EURange", 0),
                ua.Variant(rng), ua.ObjectIds.Range, prop=True,
            )
        )  # fmt: skip
    return items


def _ha_configuration(nid: Any, tag: TagInfo, ns: int) -> list[Any]:
    # Part 11, 5.2.2: the configuration hangs off the variable by HasHistoricalConfiguration
    ha = ua.NodeId(f"{tag.name}#HAConfiguration", ns)
    qname = ua.QualifiedName("HAConfiguration", 0)
    items = [
        _object(
            nid, ha, qname, ua.ObjectIds.HistoricalDataConfigurationType,
            ua.ObjectIds.HasHistoricalConfiguration,
        )
    ]  # fmt: skip
    agg = ua.NodeId(f"{tag.name}#HAConfiguration.AggregateConfiguration", ns)
    items.append(
        _object(
            ha, agg, ua.QualifiedName("AggregateConfiguration", 0),
            ua.ObjectIds.AggregateConfigurationType, ua.ObjectIds.HasComponent,
        )
    )  # fmt: skip
    d = AggregateConfiguration()
    props: list[tuple[Any, str, Any, Any, int]] = [
        (agg, "TreatUncertainAsBad", d.treat_uncertain_as_bad, ua.VariantType.Boolean, 1),
        (agg, "PercentDataBad", int(d.percent_data_bad), ua.VariantType.Byte, 3),
        (agg, "PercentDataGood", int(d.percent_data_good), ua.VariantType.Byte, 3),
        (agg, "UseSlopedExtrapolation", d.use_sloped_extrapolation, ua.VariantType.Boolean, 1),
        (ha, "Stepped", bool(tag.stepped), ua.VariantType.Boolean, 1),
        (ha, "Definition", tag.description or f"twinbench historian series {tag.id}",
         ua.VariantType.String, 12),
        (ha, "MinTimeInterval", 0.0, ua.VariantType.Double, ua.ObjectIds.Duration),
    ]  # fmt: skip
    if tag.excdev is not None:
        props.append((ha, "ExceptionDeviation", float(tag.excdev), ua.VariantType.Double, 11))
        # ExceptionDeviationFormat 0 = AbsoluteValue (engineering units, as the catalogue's)
        fmt = ua.ObjectIds.ExceptionDeviationFormat
        props.append((ha, "ExceptionDeviationFormat", 0, ua.VariantType.Int32, fmt))
    for parent, name, value, vt, dtype in props:
        where = "AggregateConfiguration." if parent is agg else ""
        items.append(
            _variable(
                parent, ua.NodeId(f"{tag.name}#HAConfiguration.{where}{name}", ns),
                ua.QualifiedName(name, 0), ua.Variant(value, vt), dtype, prop=True,
            )
        )  # fmt: skip
    return items


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
