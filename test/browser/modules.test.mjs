// Unit tests of the console's browser modules that run unchanged in Node:
// signaling payloads, the AWS error shape and clock correction of the
// control-plane client, and the statistics summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { encodePayload, decodePayload } from '../../internal/console/web/assets/js/signaling.js';
import { KvsClient, ApiError, NetworkError } from '../../internal/console/web/assets/js/kvs.js';
import { summarize, statRows } from '../../internal/console/web/assets/js/stats.js';
import { candidateSummary, hasRelay, toRtcIceServers } from '../../internal/console/web/assets/js/peer.js';

test('payloads are base64 of the JSON, as the KVS JS SDK sends them', () => {
  // The viewer's candidate from captures/WebSocket-JS-SDK.txt, byte for byte.
  const candidate = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'abcd' };
  const wire = 'eyJjYW5kaWRhdGUiOiJjYW5kaWRhdGU6MSAxIHVkcCAyMTIyMjYwMjIzIDE5Mi4wLjIuMTAgNTAwMDAgdHlwIGhvc3QiLCJzZHBNaWQiOiIwIiwic2RwTUxpbmVJbmRleCI6MCwidXNlcm5hbWVGcmFnbWVudCI6ImFiY2QifQ==';
  assert.equal(encodePayload(candidate), wire);
  assert.deepEqual(decodePayload(wire), candidate);
  const sdp = { type: 'offer', sdp: 'v=0\r\ns=Café ☕ — ünïcode\r\n' };
  assert.deepEqual(decodePayload(encodePayload(sdp)), sdp);
});

function reply(status, body, headers = {}) {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers });
}

function clientWith(responses, calls = []) {
  globalThis.fetch = async (url, init) => {
    calls.push({ url, init });
    return responses.shift();
  };
  return new KvsClient({ endpoint: 'https://127.0.0.1:8443/', region: 'us-west-2', credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret' } });
}

test('operations are signed POSTs of JSON to their paths', async () => {
  const calls = [];
  const kvs = clientWith([reply(200, { ChannelInfoList: [{ ChannelName: 'a' }], NextToken: 'tok' })], calls);
  const page = await kvs.listChannels({ prefix: 'a', maxResults: 10 });
  assert.deepEqual(page, { channels: [{ ChannelName: 'a' }], nextToken: 'tok' });
  assert.equal(calls[0].url, 'https://127.0.0.1:8443/listSignalingChannels');
  assert.equal(calls[0].init.method, 'POST');
  assert.deepEqual(JSON.parse(calls[0].init.body), { MaxResults: 10, ChannelNameCondition: { ComparisonOperator: 'BEGINS_WITH', ComparisonValue: 'a' } });
  assert.match(calls[0].init.headers.Authorization, /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-west-2\/kinesisvideo\/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$/);
});

test('errors keep the AWS name: header first, then __type', async () => {
  let kvs = clientWith([reply(404, { __type: 'Ignored', Message: 'The requested channel is not found or not active.' },
    { 'x-amzn-ErrorType': 'ResourceNotFoundException:https://docs', 'x-amzn-RequestId': 'req-1' })]);
  await assert.rejects(kvs.describeChannel({ name: 'x' }), (err) => err instanceof ApiError &&
    err.name === 'ResourceNotFoundException' && err.status === 404 && err.requestId === 'req-1' && /not found/.test(err.message));
  kvs = clientWith([reply(400, { __type: 'VersionMismatchException', message: 'stale' })]);
  await assert.rejects(kvs.updateChannel({ arn: 'a', version: 'v', ttlSeconds: 5 }), { name: 'VersionMismatchException', message: 'stale' });
  kvs = clientWith([reply(502, 'bad gateway')]);
  await assert.rejects(kvs.listTags('a'), { name: 'HTTP 502' });
  globalThis.fetch = async () => { throw new TypeError('Failed to fetch'); };
  await assert.rejects(kvs.listTags('a'), (err) => err instanceof NetworkError && err.url.endsWith('/ListTagsForResource'));
});

test('a skewed clock is corrected from the Date header and the call retried once', async () => {
  const serverTime = new Date(Date.now() + 2 * 3600_000);
  const calls = [];
  const kvs = clientWith([
    reply(403, { __type: 'InvalidSignatureException', Message: 'Signature expired: 20261121T100000Z is now earlier than ...' }, { Date: serverTime.toUTCString() }),
    reply(200, { Tags: { env: 'ci' } }),
  ], calls);
  assert.deepEqual(await kvs.listTags('arn'), { env: 'ci' });
  assert.equal(calls.length, 2);
  const stamp = calls[1].init.headers['X-Amz-Date'];
  const signedAt = Date.parse(stamp.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
  assert.ok(Math.abs(signedAt - serverTime.getTime()) < 5000, 'the retry is signed with the server clock');
});

test('the connections extension reads as null where the server lacks it', async () => {
  const kvs = clientWith([reply(404, { __type: 'UnknownOperationException', Message: 'No operation' })]);
  assert.equal(await kvs.describeConnections('arn'), null);
});

// A getStats() report is a Map of stats objects by id.
function report(t, bytes, frames) {
  const stats = [
    { id: 'T', type: 'transport', selectedCandidatePairId: 'P' },
    { id: 'P', type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R', currentRoundTripTime: 0.012, nominated: true, state: 'succeeded' },
    { id: 'L', type: 'local-candidate', candidateType: 'relay', protocol: 'udp', relayProtocol: 'tcp', address: '127.0.0.1', port: 5 },
    { id: 'R', type: 'remote-candidate', candidateType: 'host', protocol: 'udp', address: '192.0.2.2', port: 6 },
    { id: 'V', type: 'inbound-rtp', kind: 'video', timestamp: t, bytesReceived: bytes, framesDecoded: frames, packetsLost: 2, packetsReceived: 198, frameWidth: 640, frameHeight: 480, jitter: 0.004 },
  ];
  return new Map(stats.map((s) => [s.id, s]));
}

test('statistics: candidate types, bitrate, frames, loss, RTT', () => {
  const first = summarize(report(1000, 0, 0), null);
  assert.equal(first.inbound.videoKbps, null, 'no rate from a single sample');
  const s = summarize(report(3000, 250_000, 48), report(1000, 0, 0));
  assert.equal(s.local.type, 'relay');
  assert.equal(s.local.text, 'relay (udp, relay over tcp)');
  assert.equal(s.remote.type, 'host');
  assert.equal(s.rttMs, 12);
  assert.equal(s.inbound.videoKbps, 1000);
  assert.equal(s.inbound.framesDecoded, 48);
  const rows = Object.fromEntries(statRows(s, 812.4).map(([key, , text]) => [key, text]));
  assert.equal(rows.packetsLost, '2 (1.0 %)');
  assert.equal(rows.resolution, '640×480');
  assert.equal(rows.firstFrame, '812 ms');
  assert.equal(rows.outboundVideo, '—');
});

test('ICE helpers', () => {
  assert.equal(candidateSummary('candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host generation 0'), 'host udp 192.0.2.10:50000');
  const servers = toRtcIceServers([{ Uris: ['stun:h:3478'], Username: 'u', Password: 'p', Ttl: 300 }]);
  assert.deepEqual(servers, [{ urls: ['stun:h:3478'], username: 'u', credential: 'p' }]);
  assert.equal(hasRelay(servers), false);
  assert.equal(hasRelay(toRtcIceServers([{ Uris: ['turns:h:443?transport=tcp'] }])), true);
});
