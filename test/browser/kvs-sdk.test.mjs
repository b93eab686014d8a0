// Amazon's own client libraries, unchanged, against the real server: the
// AWS SDK for JavaScript v3 (@aws-sdk/client-kinesis-video and
// -signaling, in Node.js) makes the control-plane calls a web application
// makes, and the KVS WebRTC SDK for JavaScript
// (amazon-kinesis-video-streams-webrtc, its browser bundle as a page loads
// it) signals in headless Chromium: once as a viewer of the `switchboard
// master` CLI, once as a master with the fake camera, watched by the
// `switchboard viewer` CLI. Both calls are forced through the embedded
// TURN relay, as a browser behind NAT would be. Each page follows the
// pattern of the KVS SDK's own examples: one RTCPeerConnection per remote
// client, candidates trickled both ways.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { createInterface } from 'node:readline';

import {
  KinesisVideoClient, CreateSignalingChannelCommand, DescribeSignalingChannelCommand, GetSignalingChannelEndpointCommand,
} from '@aws-sdk/client-kinesis-video';
import { KinesisVideoSignalingClient, GetIceServerConfigCommand } from '@aws-sdk/client-kinesis-video-signaling';

import { switchboardBinary, startServer, leafSpkiHash, repoRoot } from './lib/server.mjs';
import { launch, ErrorLog } from './lib/browser.mjs';

const REGION = 'us-west-2';
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const MIN_FRAMES = 30;

const require = createRequire(import.meta.url);
const KVS_BUNDLE = require.resolve('amazon-kinesis-video-streams-webrtc/dist/kvs-webrtc.min.js');

// The pages are the server's /healthz, a plain document on its own
// loopback origin: a secure context (the SDK signs with crypto.subtle)
// that Chromium's local-network checks let reach the server, with no
// content security policy to stop the SDK bundle added to it.
const PAGE_PATH = '/healthz';

describe('the KVS WebRTC SDK for JavaScript and the AWS SDK for JavaScript v3', { timeout: 240_000 }, () => {
  let bin;
  let server;
  let browser;
  let context;
  let kvs;
  let signalingFor;
  let bundle;
  const errors = new ErrorLog();
  const children = [];

  before(async () => {
    bin = await switchboardBinary();
    server = await startServer({
      bin,
      args: ['--region', REGION, '--turn-udp-addr=127.0.0.1:0', '--turn-tcp-addr=127.0.0.1:0',
        '--relay-ip=127.0.0.1', '--turn-allow-peer=127.0.0.0/8'],
      env: { SWITCHBOARD_ACCESS_KEY_ID: KEY_ID, SWITCHBOARD_SECRET_ACCESS_KEY: SECRET },
    });
    const sdkConfig = {
      region: REGION,
      credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
      requestHandler: { httpsAgent: new https.Agent({ ca: await readFile(server.caFile) }) },
    };
    kvs = new KinesisVideoClient({ ...sdkConfig, endpoint: server.url });
    signalingFor = (httpsEndpoint) => new KinesisVideoSignalingClient({ ...sdkConfig, endpoint: httpsEndpoint });
    browser = await launch(await leafSpkiHash(server));
    context = await browser.newContext();
    bundle = await readFile(KVS_BUNDLE, 'utf8');
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await browser?.close();
    await server?.stop();
  });

  // A channel made and looked up the way a web application does it,
  // with the ICE servers for relayed calls.
  async function prepareChannel(name, role) {
    const created = await kvs.send(new CreateSignalingChannelCommand({ ChannelName: name }));
    const described = await kvs.send(new DescribeSignalingChannelCommand({ ChannelName: name }));
    assert.equal(described.ChannelInfo.ChannelARN, created.ChannelARN);
    assert.equal(described.ChannelInfo.ChannelStatus, 'ACTIVE');
    const arn = created.ChannelARN;
    const endpoints = await kvs.send(new GetSignalingChannelEndpointCommand({
      ChannelARN: arn,
      SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: role },
    }));
    const byProtocol = Object.fromEntries(endpoints.ResourceEndpointList.map((e) => [e.Protocol, e.ResourceEndpoint]));
    assert.match(byProtocol.WSS, /^wss:\/\//);
    assert.match(byProtocol.HTTPS, /^https:\/\//);
    const ice = await signalingFor(byProtocol.HTTPS).send(new GetIceServerConfigCommand({ ChannelARN: arn, ClientId: role === 'VIEWER' ? 'kvs-js-viewer' : undefined }));
    const iceServers = ice.IceServerList.map((s) => ({ urls: s.Uris, username: s.Username, credential: s.Password }));
    assert.ok(iceServers.some((s) => s.urls.some((u) => u.startsWith('turn:'))), `no TURN server: ${JSON.stringify(iceServers)}`);
    return { arn, wss: byProtocol.WSS, iceServers };
  }

  async function openPage(label) {
    const page = errors.watch(await context.newPage(), label);
    // Chromium asks for /favicon.ico, which the server does not have; the
    // SDK itself fetches nothing (signaling is one WebSocket).
    errors.allow(page, /Failed to load resource: the server responded with a status of 404/);
    await page.goto(`${server.url}${PAGE_PATH}`);
    await page.addScriptTag({ content: bundle });
    assert.equal(await page.evaluate(() => typeof KVSWebRTC?.SignalingClient), 'function', 'the KVS SDK bundle did not load');
    return page;
  }

  // Runs `switchboard ROLE args...` as the Go side of a call, with the
  // settings the AWS CLI reads; resolves lines of its JSON output.
  function startPeer(role, args) {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('AWS_') || k.startsWith('SWITCHBOARD_')) delete env[k];
    Object.assign(env, {
      AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_REGION: REGION,
      AWS_ENDPOINT_URL: server.url, AWS_CA_BUNDLE: server.caFile,
    });
    const child = spawn(bin, [role, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const peer = { child, lines: [], stderr: '' };
    createInterface({ input: child.stdout }).on('line', (line) => peer.lines.push(line));
    child.stderr.on('data', (chunk) => { peer.stderr += chunk; });
    return peer;
  }

  async function waitUntil(what, check, timeoutMs, explain) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out waiting for ${what}\n${await explain()}\nbrowser errors: ${errors.unexpected().join(" | ")}\nserver output (end):\n${server.output().slice(-3000)}`);
  }

  test('a KVS SDK viewer in Chromium receives video from `switchboard master`', async () => {
    const name = `kvs-js-viewer-${Date.now().toString(36)}`;
    const channel = await prepareChannel(name, 'VIEWER');
    const master = startPeer('master', ['--channel', name, '--relay-only', '--interfaces', 'lo',
      '--video', join(repoRoot, 'testdata', 'clip.ivf'), '--log-level', 'info']);
    await waitUntil('the master to join', () => master.lines.some((line) => line.includes('master on channel')), 30_000,
      () => `master output:\n${master.stderr}`);

    const page = await openPage('KVS SDK viewer');
    await page.evaluate(({ channel, region, credentials }) => {
      const log = (window.kvsLog = []);
      const pc = new RTCPeerConnection({ iceServers: channel.iceServers, iceTransportPolicy: 'relay' });
      window.viewerPC = pc;
      const signaling = new KVSWebRTC.SignalingClient({
        channelARN: channel.arn, channelEndpoint: channel.wss, clientId: 'kvs-js-viewer',
        role: KVSWebRTC.Role.VIEWER, region, credentials, systemClockOffset: 0,
      });
      window.viewerSignaling = signaling;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.onicecandidate = ({ candidate }) => { if (candidate) signaling.sendIceCandidate(candidate); };
      signaling.on('open', async () => {
        log.push('open');
        await pc.setLocalDescription(await pc.createOffer());
        signaling.sendSdpOffer(pc.localDescription);
      });
      signaling.on('sdpAnswer', async (answer) => { log.push('answer'); await pc.setRemoteDescription(answer); });
      // The master labels its candidates with usernameFragment: Chromium
      // must take them (a refusal would go unnoticed if ICE then found
      // the master's address as a peer-reflexive candidate instead).
      signaling.on('iceCandidate', (candidate) => {
        log.push('candidate');
        pc.addIceCandidate(candidate).then(() => log.push('candidate added'), (err) => log.push(`candidate refused: ${err}`));
      });
      signaling.on('error', (err) => log.push(`error: ${err?.message || err}`));
      signaling.on('close', () => log.push('close'));
      signaling.open();
    }, { channel, region: REGION, credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET } });

    const framesDecoded = () => page.evaluate(async () => {
      const stats = await window.viewerPC.getStats();
      let frames = 0;
      stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0; });
      return frames;
    });
    await waitUntil(`${MIN_FRAMES} decoded frames in the KVS SDK viewer`, async () => (await framesDecoded()) > MIN_FRAMES, 60_000,
      async () => `page log: ${JSON.stringify(await page.evaluate(() => window.kvsLog))}\nmaster output:\n${master.stderr}`);
    const pair = await page.evaluate(async () => {
      const stats = await window.viewerPC.getStats();
      let local = '';
      stats.forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') local = stats.get(s.localCandidateId)?.candidateType;
      });
      return local;
    });
    assert.equal(pair, 'relay', 'the viewer must receive through the embedded TURN relay');
    const added = await page.evaluate(() => window.kvsLog.filter((line) => line.startsWith('candidate ')));
    assert.ok(added.includes('candidate added'), `no candidate of the master was added: ${JSON.stringify(added)}`);
    assert.deepEqual(added.filter((line) => line !== 'candidate added'), [], 'Chromium refused candidates of the master');
    assert.deepEqual(errors.unexpected(), []);
    await page.evaluate(() => { window.viewerSignaling.close(); window.viewerPC.close(); });
    await page.close();
    master.child.kill('SIGINT');
  });

  test('a KVS SDK master in Chromium streams its camera to `switchboard viewer`', async () => {
    const name = `kvs-js-master-${Date.now().toString(36)}`;
    const channel = await prepareChannel(name, 'MASTER');
    const page = await openPage('KVS SDK master');
    await page.evaluate(async ({ channel, region, credentials }) => {
      const log = (window.kvsLog = []);
      const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
      const peers = (window.masterPeers = new Map());
      const signaling = new KVSWebRTC.SignalingClient({
        channelARN: channel.arn, channelEndpoint: channel.wss,
        role: KVSWebRTC.Role.MASTER, region, credentials, systemClockOffset: 0,
      });
      window.masterSignaling = signaling;
      signaling.on('open', () => log.push('open'));
      signaling.on('sdpOffer', async (offer, remoteClientId) => {
        log.push(`offer from ${remoteClientId}`);
        peers.get(remoteClientId)?.close();
        const pc = new RTCPeerConnection({ iceServers: channel.iceServers, iceTransportPolicy: 'relay' });
        peers.set(remoteClientId, pc);
        pc.onicecandidate = ({ candidate }) => { if (candidate) signaling.sendIceCandidate(candidate, remoteClientId); };
        camera.getTracks().forEach((track) => pc.addTrack(track, camera));
        await pc.setRemoteDescription(offer);
        await pc.setLocalDescription(await pc.createAnswer());
        signaling.sendSdpAnswer(pc.localDescription, remoteClientId);
      });
      signaling.on('iceCandidate', (candidate, remoteClientId) => {
        log.push(`candidate from ${remoteClientId}`);
        peers.get(remoteClientId)?.addIceCandidate(candidate)
          .then(() => log.push('candidate added'), (err) => log.push(`candidate refused: ${err}`));
      });
      signaling.on('error', (err) => log.push(`error: ${err?.message || err}`));
      signaling.on('close', () => log.push('close'));
      await new Promise((resolve) => { signaling.on('open', resolve); signaling.open(); });
    }, { channel, region: REGION, credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET } });

    const viewer = startPeer('viewer', ['--channel', name, '--relay-only', '--interfaces', 'lo',
      '--client-id', 'go-viewer', '--json', '--stats-interval', '250ms']);
    const lastStats = () => {
      for (let i = viewer.lines.length - 1; i >= 0; i--) {
        try { return JSON.parse(viewer.lines[i]); } catch { /* a line that is not JSON */ }
      }
      return {};
    };
    await waitUntil(`${MIN_FRAMES} video frames at the Go viewer`, () => Number(lastStats().videoFramesReceived || 0) >= MIN_FRAMES, 60_000,
      async () => `page log: ${JSON.stringify(await page.evaluate(() => window.kvsLog))}\nviewer stats: ${JSON.stringify(lastStats())}\nviewer stderr:\n${viewer.stderr}`);
    const stats = lastStats();
    assert.equal(stats.state, 'connected');
    assert.equal(stats.localCandidateType, 'relay', 'the Go viewer must receive through the embedded TURN relay');
    assert.equal(stats.videoCodec, 'video/VP8');
    const served = await page.evaluate(() => [...window.masterPeers.keys()]);
    assert.deepEqual(served, ['go-viewer'], 'the master must have answered exactly the Go viewer');
    const results = await page.evaluate(() => window.kvsLog.filter((line) => line.startsWith('candidate ') && !line.startsWith('candidate from')));
    assert.ok(results.includes('candidate added'), `no candidate of the Go viewer was added: ${JSON.stringify(results)}`);
    assert.deepEqual(results.filter((line) => line !== 'candidate added'), [], 'Chromium refused candidates of the Go viewer');
    assert.deepEqual(errors.unexpected(), []);
    viewer.child.kill('SIGINT');
    await page.evaluate(() => { window.masterSignaling.close(); window.masterPeers.forEach((pc) => pc.close()); });
    await page.close();
  });
});
