// An independent OPC UA client (node-opcua) exercising the twin's server.
// usage: node node_opcua_client.cjs <endpoint> <measurement path> <setpoint path> <folder path>
// prints one JSON object with what it saw.
"use strict";
const {
  OPCUAClient, AttributeIds, DataType, TimestampsToReturn, ClientSubscription, ClientMonitoredItem,
} = require("node-opcua-client");

async function main() {
  const [url, measurement, setpoint, folder] = process.argv.slice(2);
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  await client.connect(url);
  const session = await client.createSession();
  const out = {};
  const browse = await session.browse(`ns=2;s=${folder}`);
  out.browse = browse.references.map((r) => r.browseName.name).sort();
  const dv = await session.read({ nodeId: `ns=2;s=${measurement}`, attributeId: AttributeIds.Value });
  out.value = dv.value.value;
  out.status = dv.statusCode.value;
  out.sourceTimestamp = dv.sourceTimestamp ? dv.sourceTimestamp.toISOString() : null;
  const unknown = await session.read({ nodeId: "ns=2;s=acme.nowhere", attributeId: AttributeIds.Value });
  out.unknownStatus = unknown.statusCode.name;
  const write = async (nodeId, value) => (await session.write({
    nodeId, attributeId: AttributeIds.Value, value: { value: { dataType: DataType.Double, value } },
  })).name;
  out.writeSetpoint = await write(`ns=2;s=${setpoint}`, 3150.0);
  out.writeOutOfRange = await write(`ns=2;s=${setpoint}`, 99999.0);
  out.writeMeasurement = await write(`ns=2;s=${measurement}`, 1.0);
  const sub = ClientSubscription.create(session, {
    requestedPublishingInterval: 50, requestedLifetimeCount: 100, requestedMaxKeepAliveCount: 10,
    maxNotificationsPerPublish: 1000, publishingEnabled: true, priority: 1,
  });
  const changes = [];
  const item = ClientMonitoredItem.create(sub, { nodeId: `ns=2;s=${measurement}`, attributeId: AttributeIds.Value },
    { samplingInterval: 50, discardOldest: true, queueSize: 10 }, TimestampsToReturn.Both);
  item.on("changed", (d) => changes.push(d.value.value));
  const deadline = Date.now() + 8000;
  while (changes.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  out.changes = changes;
  await sub.terminate();
  await session.close();
  await client.disconnect();
  console.log("RESULT " + JSON.stringify(out));
}
main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
