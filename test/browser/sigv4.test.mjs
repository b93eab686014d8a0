// The console's SigV4 module against the requests recorded from the AWS CLI
// and the KVS JS SDK (spec 7.7 and /work/shared/spec/captures): same keys,
// same time, same signature. Runs in Node, whose Web Crypto is the same API
// the browser module uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { signRequest, presignWebSocketURL, uriEncode, amzDate } from '../../internal/console/web/assets/js/sigv4.js';

const keys = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const token = 'FQoGZXIvYXdzEXAMPLESESSIONTOKEN';
const arn = 'arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo-channel/1700000000000';
const at = (stamp) => new Date(stamp.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));

test('amzDate and uriEncode follow SigV4', () => {
  assert.equal(amzDate(new Date('2026-11-21T21:06:38.123Z')), '20261121T210638Z');
  assert.equal(uriEncode("a/b:c d!'()*~"), 'a%2Fb%3Ac%20d%21%27%28%29%2A~');
});

test('REST request signed like the AWS CLI (DescribeSignalingChannel)', async () => {
  const headers = await signRequest({
    url: 'http://127.0.0.1:18080/describeSignalingChannel',
    headers: { 'Content-Type': 'application/json' },
    body: '{"ChannelName": "demo-channel"}',
    credentials: keys,
    region: 'us-west-2',
    now: at('20261121T210611Z'),
  });
  assert.equal(headers['X-Amz-Date'], '20261121T210611Z');
  assert.equal(headers.Authorization,
    'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-west-2/kinesisvideo/aws4_request, ' +
    'SignedHeaders=content-type;host;x-amz-date, Signature=505a19638c27b0f0c070fee7dd02efdf095a2abaa102cccad35bdbfe80566695');
});

test('REST request with a session token (spec 7.7)', async () => {
  const headers = await signRequest({
    url: 'http://127.0.0.1:18080/describeSignalingChannel',
    headers: { 'Content-Type': 'application/json' },
    body: '{"ChannelName": "demo-channel"}',
    credentials: { ...keys, sessionToken: token },
    region: 'us-west-2',
    now: at('20261121T210638Z'),
  });
  assert.equal(headers['X-Amz-Security-Token'], token);
  assert.match(headers.Authorization, /SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=411749179b2c6326feaf581de83022b915f34626f0cc90fb8a7fdb7045b570e6$/);
});

test('viewer WebSocket URL presigned like the KVS JS SDK', async () => {
  const url = await presignWebSocketURL({
    endpoint: 'wss://127.0.0.1:18443', channelARN: arn, clientId: 'viewer-1',
    credentials: keys, region: 'us-west-2', now: at('20261121T210822Z'),
  });
  assert.equal(url, 'wss://127.0.0.1:18443/?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
    '&X-Amz-ChannelARN=arn%3Aaws%3Akinesisvideo%3Aus-west-2%3A111122223333%3Achannel%2Fdemo-channel%2F1700000000000' +
    '&X-Amz-ClientId=viewer-1&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261121%2Fus-west-2%2Fkinesisvideo%2Faws4_request' +
    '&X-Amz-Date=20261121T210822Z&X-Amz-Expires=299&X-Amz-SignedHeaders=host' +
    '&X-Amz-Signature=f2a2f29b34b2e25a8bc0538b574c77221e4818b3d364e3ec74e062c062d3272f');
});

test('master WebSocket URL with a session token inside the signed query', async () => {
  const url = await presignWebSocketURL({
    endpoint: 'wss://127.0.0.1:18443', channelARN: arn,
    credentials: { ...keys, sessionToken: token }, region: 'us-west-2', now: at('20261121T210822Z'),
  });
  assert.match(url, /&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLESESSIONTOKEN&X-Amz-SignedHeaders=host&/);
  assert.match(url, /X-Amz-Signature=e6593499ad62893b40a4e095ecca9f6cc1e53bf66e5782c6dc2dce42cdfcf1a6$/);
});
