"""OPC UA StatusCode symbolic names for the stored 16-bit quality (Part 4 7.39, Part 8, Part 11).

The store keeps the high 16 bits of a StatusCode (severity + sub-code, see
:class:`historian.model.Quality`); this module names them the way OPC UA does
(``Good``, ``UncertainDataSubNormal``, ``BadNoData``, ...) and parses names or
numbers back. The table holds every Good and Uncertain code of the standard's
``StatusCode.csv`` and the Bad codes that describe a value or a history request
(communication, device, configuration, history, aggregate); service-level codes
(sessions, certificates, browsing) are left out: give those as numbers.

>>> status_name(0x809B), status_name(0x40A4), status_name(0x8123)
('BadNoData', 'UncertainDataSubNormal', '0x81230000')
>>> parse_status("BadSensorFailure") == 0x808C, parse_status("0x80000000"), parse_status("good")
(True, 32768, 0)
>>> parse_status("0x80000400")
Traceback (most recent call last):
...
ValueError: status 0x80000400 has info bits 0x0400 set (the low 16 bits); the store keeps only \
severity and sub-code (the high 16 bits): clear them
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "NAME_BY_QUALITY",
    "QUALITY_BY_NAME",
    "parse_status",
    "parse_statuses",
    "status_name",
    "status_names",
]

# (symbolic name, high 16 bits of the StatusCode); checked against the standard's table
# (asyncua's generated copy of StatusCode.csv) in tests/historian/io/test_statuscodes.py.
_TABLE: tuple[tuple[str, int], ...] = (
    ("Good", 0x0000),
    ("GoodSubscriptionTransferred", 0x002D),
    ("GoodCompletesAsynchronously", 0x002E),
    ("GoodOverload", 0x002F),
    ("GoodClamped", 0x0030),
    ("GoodLocalOverride", 0x0096),
    ("GoodEntryInserted", 0x00A2),
    ("GoodEntryReplaced", 0x00A3),
    ("GoodNoData", 0x00A5),
    ("GoodMoreData", 0x00A6),
    ("GoodCommunicationEvent", 0x00A7),
    ("GoodShutdownEvent", 0x00A8),
    ("GoodCallAgain", 0x00A9),
    ("GoodNonCriticalTimeout", 0x00AA),
    ("GoodResultsMayBeIncomplete", 0x00BA),
    ("GoodDataIgnored", 0x00D9),
    ("GoodEdited", 0x00DC),
    ("GoodPostActionFailed", 0x00DD),
    ("GoodRetransmissionQueueNotSupported", 0x00DF),
    ("GoodDependentValueChanged", 0x00E0),
    ("GoodSubNormal", 0x00EB),
    ("GoodPasswordChangeRequired", 0x00EF),
    ("GoodEdited_DependentValueChanged", 0x0116),
    ("GoodEdited_DominantValueChanged", 0x0117),
    ("GoodEdited_DominantValueChanged_DependentValueChanged", 0x0118),
    ("GoodCascadeInitializationAcknowledged", 0x0401),
    ("GoodCascadeInitializationRequest", 0x0402),
    ("GoodCascadeNotInvited", 0x0403),
    ("GoodCascadeNotSelected", 0x0404),
    ("GoodFaultStateActive", 0x0407),
    ("GoodInitiateFaultState", 0x0408),
    ("GoodCascade", 0x0409),
    ("Uncertain", 0x4000),
    ("UncertainReferenceOutOfServer", 0x406C),
    ("UncertainNoCommunicationLastUsableValue", 0x408F),
    ("UncertainLastUsableValue", 0x4090),
    ("UncertainSubstituteValue", 0x4091),
    ("UncertainInitialValue", 0x4092),
    ("UncertainSensorNotAccurate", 0x4093),
    ("UncertainEngineeringUnitsExceeded", 0x4094),
    ("UncertainSubNormal", 0x4095),
    ("UncertainDataSubNormal", 0x40A4),
    ("UncertainReferenceNotDeleted", 0x40BC),
    ("UncertainNotAllNodesAvailable", 0x40C0),
    ("UncertainDominantValueChanged", 0x40DE),
    ("UncertainDependentValueChanged", 0x40E2),
    ("UncertainOverRange", 0x40F2),
    ("UncertainUnderRange", 0x40F3),
    ("UncertainTransducerInManual", 0x4208),
    ("UncertainSimulatedValue", 0x4209),
    ("UncertainSensorCalibration", 0x420A),
    ("UncertainConfigurationError", 0x420F),
    ("Bad", 0x8000),
    ("BadUnexpectedError", 0x8001),
    ("BadInternalError", 0x8002),
    ("BadOutOfMemory", 0x8003),
    ("BadResourceUnavailable", 0x8004),
    ("BadCommunicationError", 0x8005),
    ("BadEncodingError", 0x8006),
    ("BadDecodingError", 0x8007),
    ("BadTimeout", 0x800A),
    ("BadShutdown", 0x800C),
    ("BadServerNotConnected", 0x800D),
    ("BadServerHalted", 0x800E),
    ("BadDataTypeIdUnknown", 0x8011),
    ("BadUserAccessDenied", 0x801F),
    ("BadInvalidTimestamp", 0x8023),
    ("BadNoCommunication", 0x8031),
    ("BadWaitingForInitialData", 0x8032),
    ("BadNodeIdUnknown", 0x8034),
    ("BadIndexRangeNoData", 0x8037),
    ("BadDataEncodingInvalid", 0x8038),
    ("BadDataEncodingUnsupported", 0x8039),
    ("BadNotReadable", 0x803A),
    ("BadNotWritable", 0x803B),
    ("BadOutOfRange", 0x803C),
    ("BadNotSupported", 0x803D),
    ("BadNotFound", 0x803E),
    ("BadObjectDeleted", 0x803F),
    ("BadNotImplemented", 0x8040),
    ("BadStructureMissing", 0x8046),
    ("BadMaxAgeInvalid", 0x8070),
    ("BadHistoryOperationInvalid", 0x8071),
    ("BadHistoryOperationUnsupported", 0x8072),
    ("BadTypeMismatch", 0x8074),
    ("BadConfigurationError", 0x8089),
    ("BadNotConnected", 0x808A),
    ("BadDeviceFailure", 0x808B),
    ("BadSensorFailure", 0x808C),
    ("BadOutOfService", 0x808D),
    ("BadRefreshInProgress", 0x8097),
    ("BadNoData", 0x809B),
    ("BadDataLost", 0x809D),
    ("BadDataUnavailable", 0x809E),
    ("BadEntryExists", 0x809F),
    ("BadNoEntryExists", 0x80A0),
    ("BadTimestampNotSupported", 0x80A1),
    ("BadInvalidArgument", 0x80AB),
    ("BadDisconnect", 0x80AD),
    ("BadConnectionClosed", 0x80AE),
    ("BadInvalidState", 0x80AF),
    ("BadEndOfStream", 0x80B0),
    ("BadNoDataAvailable", 0x80B1),
    ("BadWaitingForResponse", 0x80B2),
    ("BadOperationAbandoned", 0x80B3),
    ("BadWouldBlock", 0x80B5),
    ("BadSyntaxError", 0x80B6),
    ("BadMaxConnectionsReached", 0x80B7),
    ("BadAggregateListMismatch", 0x80D4),
    ("BadAggregateNotSupported", 0x80D5),
    ("BadAggregateInvalidInputs", 0x80D6),
    ("BadBoundNotFound", 0x80D7),
    ("BadBoundNotSupported", 0x80D8),
    ("BadAggregateConfigurationRejected", 0x80DA),
    ("BadDominantValueChanged", 0x80E1),
    ("BadDependentValueChanged", 0x80E3),
    ("BadRequestNotAllowed", 0x80E4),
    ("BadLocked", 0x80E9),
    ("BadRequestNotComplete", 0x8113),
    ("BadEdited_OutOfRange", 0x8119),
    ("BadOutOfRange_DominantValueChanged", 0x811B),
    ("BadEdited_OutOfRange_DominantValueChanged", 0x811C),
    ("BadOutOfRange_DominantValueChanged_DependentValueChanged", 0x811D),
    ("BadEdited_OutOfRange_DominantValueChanged_DependentValueChanged", 0x811E),
)

NAME_BY_QUALITY: Mapping[int, str] = {q: n for n, q in _TABLE}
QUALITY_BY_NAME: Mapping[str, int] = {n: q for n, q in _TABLE}
_BY_LOWER: Mapping[str, int] = {n.lower(): q for n, q in _TABLE}


def status_name(quality: int) -> str:
    """The symbolic name, or the full 32-bit StatusCode as ``0xXXXXXXXX`` when unnamed."""
    q = int(quality) & 0xFFFF
    return NAME_BY_QUALITY.get(q) or f"0x{q << 16:08X}"


def status_names(quality: NDArray[np.uint16]) -> NDArray[np.object_]:
    """Vectorised :func:`status_name`: one name per point, computed once per distinct code."""
    uniq, inverse = np.unique(np.asarray(quality, dtype=np.uint16), return_inverse=True)
    names = np.array([status_name(int(q)) for q in uniq], dtype=object)
    return names[inverse.reshape(-1)]


def parse_status(text: str) -> int:
    """Stored quality from a symbolic name (exact, else case-insensitive) or a StatusCode number.

    Numbers are 32-bit StatusCodes, hex (``0x808C0000``) or decimal; their low 16 bits
    (info bits) must be zero because the store cannot keep them. Raises ``ValueError``.
    """
    s = text.strip()
    if s in QUALITY_BY_NAME:
        return QUALITY_BY_NAME[s]
    if s.lower() in _BY_LOWER:
        return _BY_LOWER[s.lower()]
    try:
        code = int(s, 16) if s[:2].lower() == "0x" else int(s, 10)
    except ValueError:
        raise ValueError(
            f"status {text!r} is neither an OPC UA StatusCode name (e.g. Good, Uncertain, Bad, "
            "BadNoData, UncertainDataSubNormal) nor a number like 0x80000000"
        ) from None
    if not 0 <= code <= 0xFFFFFFFF:
        raise ValueError(f"status {text!r} does not fit in a 32-bit StatusCode")
    if code & 0xFFFF:
        raise ValueError(
            f"status {text} has info bits 0x{code & 0xFFFF:04X} set (the low 16 bits); the store "
            "keeps only severity and sub-code (the high 16 bits): clear them"
        )
    return code >> 16


def parse_statuses(distinct: Sequence[str]) -> tuple[NDArray[np.uint16], int, str]:
    """Parse the distinct status strings of a column: (qualities, first bad index or -1, why)."""
    out = np.zeros(len(distinct), dtype=np.uint16)
    for i, text in enumerate(distinct):
        try:
            out[i] = parse_status(text)
        except ValueError as exc:
            return out, i, str(exc)
    return out, -1, ""
