// node-opcua (an independent OPC UA stack) against a secure-mode server: Basic256Sha256
// SignAndEncrypt with a user name and password, then one Read and one raw HistoryRead.
// usage: node node_opcua_secure.cjs <endpoint> <certPem> <keyPem> <appUri> <user> <password>
//        <tag> <startIso> <endIso>
// prints "RESULT <json>"; an anonymous session over the same channel is tried first and
// its error recorded (it must be refused).
"use strict";
const path = require("path");
const os = require("os");
const fs = require("fs");
const {
  OPCUAClient, MessageSecurityMode, SecurityPolicy, UserTokenType,
  HistoryReadRequest, ReadRawModifiedDetails, TimestampsToReturn, AttributeIds, resolveNodeId,
} = require("node-opcua-client");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");

async function main() {
  const [url, cert, key, appUri, user, password, tag, startIso, endIso] = process.argv.slice(2);
  const pki = fs.mkdtempSync(path.join(os.tmpdir(), "node-opcua-pki-"));
  const clientCertificateManager = new OPCUACertificateManager({
    rootFolder: pki, automaticallyAcceptUnknownCertificate: true,
  });
  const client = OPCUAClient.create({
    applicationUri: appUri, applicationName: "twinbench node-opcua test",
    securityMode: MessageSecurityMode.SignAndEncrypt, securityPolicy: SecurityPolicy.Basic256Sha256,
    certificateFile: cert, privateKeyFile: key, clientCertificateManager,
    endpointMustExist: false, connectionStrategy: { maxRetry: 0 },
  });
  const out = {};
  const t0 = Date.now();
  await client.connect(url);
  try {
    await client.createSession();
    out.anonymous = "accepted";
  } catch (err) {
    out.anonymous = String(err.message || err);
  }
  const session = await client.createSession({ type: UserTokenType.UserName, userName: user, password });
  out.connect_ms = Date.now() - t0;
  const ns = (await session.readNamespaceArray()).indexOf("urn:twinbench:historian");
  const nodeId = resolveNodeId(`ns=${ns};s=${tag}`);
  const dv = await session.read({ nodeId, attributeId: AttributeIds.Value });
  out.value = dv.value.value;
  out.status = dv.statusCode.value;
  const res = (await session.historyRead(new HistoryReadRequest({
    historyReadDetails: new ReadRawModifiedDetails({
      isReadModified: false, startTime: new Date(startIso), endTime: new Date(endIso),
      numValuesPerNode: 0, returnBounds: false,
    }),
    timestampsToReturn: TimestampsToReturn.Source,
    nodesToRead: [{ nodeId }],
  }))).results[0];
  out.history_status = res.statusCode.value;
  out.history = res.historyData.dataValues.map((v) => v.value.value);
  await session.close();
  await client.disconnect();
  console.log("RESULT " + JSON.stringify(out));
}

main().catch((err) => { console.error(err); process.exit(1); });
