// An independent OPC UA stack (node-opcua) reading the historian's HistoryRead.
// usage: node node_opcua_history.cjs <endpoint> <tag> <folder> <startIso> <endIso>
// prints "RESULT <json>" with what it saw.
"use strict";
const {
  OPCUAClient, HistoryReadRequest, ReadRawModifiedDetails, ReadProcessedDetails,
  ReadAtTimeDetails, AggregateConfiguration, TimestampsToReturn, resolveNodeId,
} = require("node-opcua-client");

const AGGREGATES = { Average: 2342, TimeAverage: 2343, Interpolative: 2341, Minimum: 2346, Count: 2352 };

function dv(v) {
  return {
    t: v.sourceTimestamp ? v.sourceTimestamp.toISOString() : null,
    v: v.value && v.value.value !== null && v.value.value !== undefined ? v.value.value : null,
    s: v.statusCode.value,
  };
}

async function main() {
  const [url, tag, folder, startIso, endIso] = process.argv.slice(2);
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  await client.connect(url);
  const session = await client.createSession();
  const ns = (await session.readNamespaceArray()).indexOf("urn:twinbench:historian");
  const nodeId = resolveNodeId(`ns=${ns};s=${tag}`);
  const out = {};
  const browse = await session.browse(`ns=${ns};s=${folder}`);
  out.browse = browse.references.map((r) => r.browseName.name).sort();
  const read = async (details, cp, release) => (await session.historyRead(new HistoryReadRequest({
    historyReadDetails: details,
    timestampsToReturn: TimestampsToReturn.Source,
    releaseContinuationPoints: !!release,
    nodesToRead: [{ nodeId, continuationPoint: cp || null }],
  }))).results[0];
  // raw with bounds, 1000 values per call, following continuation points
  const start = new Date(startIso), end = new Date(endIso);
  const rawDetails = new ReadRawModifiedDetails({
    isReadModified: false, startTime: start, endTime: end, numValuesPerNode: 1000, returnBounds: true,
  });
  let cp = null; const raw = []; let pages = 0;
  do {
    const r = await read(rawDetails, cp);
    if (r.statusCode.value >= 0x80000000) throw new Error("raw read failed: " + r.statusCode.toString());
    raw.push(...r.historyData.dataValues.map(dv));
    cp = r.continuationPoint; pages += 1;
  } while (cp && cp.length);
  out.raw = { count: raw.length, pages, first: raw[0], last: raw[raw.length - 1], sample: raw.slice(0, 3) };
  // release a continuation point, then use it: invalid
  const first = await read(rawDetails, null);
  const released = await read(rawDetails, first.continuationPoint, true);
  const reused = await read(rawDetails, first.continuationPoint);
  out.release = { released: released.statusCode.value, reused: reused.statusCode.name };
  out.processed = {};
  for (const [name, id] of Object.entries(AGGREGATES)) {
    const details = new ReadProcessedDetails({
      startTime: start, endTime: end, processingInterval: 10 * 60 * 1000,
      aggregateType: [resolveNodeId(`i=${id}`)],
      aggregateConfiguration: new AggregateConfiguration({ useServerCapabilitiesDefaults: true }),
    });
    const r = await read(details, null);
    out.processed[name] = { status: r.statusCode.value, values: r.historyData.dataValues.map(dv) };
  }
  const at = await read(new ReadAtTimeDetails({
    reqTimes: [new Date(start.getTime() + 10500), new Date(start.getTime() - 1000)], useSimpleBounds: true,
  }), null);
  out.atTime = at.historyData.dataValues.map(dv);
  await session.close();
  await client.disconnect();
  console.log("RESULT " + JSON.stringify(out));
}
main().catch((e) => { console.error(String((e && e.stack) || e)); process.exit(1); });
