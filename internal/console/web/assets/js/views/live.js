// The master and viewer pages: pick camera and microphone, choose what to
// send and whether to force a TURN relay, then connect through the channel
// and watch the remote video with its statistics, exchange data-channel
// messages and follow the signaling events in the log.

import { h, replace, field, checkbox, busy, showBanner, hideBanner } from '../ui.js';
import { isNotFound } from '../errors.js';
import { MasterSession, ViewerSession, randomClientId } from '../peer.js';
import { StatsSampler, timeToFirstFrame } from '../stats.js';
import { statsPanel, logPanel, messagesPanel, devicePickers, statePill } from './panels.js';

const CLIENT_ID = /^[A-Za-z0-9_.-]{1,256}$/;

export default async function liveView({ app, main, params: [name], route }) {
  const role = route.role;
  const isMaster = role === 'MASTER';
  const base = `/console/channels/${encodeURIComponent(name)}`;
  const page = { app, name, role, isMaster, session: null, stream: null, samplers: new Set(), viewers: new Map() };

  page.log = logPanel();
  page.messages = messagesPanel((text) => sendMessage(page, text), isMaster ? 'To every connected viewer' : 'To the master');
  page.messages.setEnabled(false);
  page.pill = h('span', { class: 'state', id: 'session-state' }, statePill('idle'));
  page.controls = controls(page);

  main.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: '/console/channels', text: 'Channels' }), h('span', { 'aria-hidden': 'true', text: '/' }),
      h('a', { href: base, text: name }), h('span', { 'aria-hidden': 'true', text: '/' }),
      h('span', { 'aria-current': 'page', text: isMaster ? 'Master' : 'Viewer' })),
    h('div', { class: 'page-head' },
      h('div', { class: 'title-row' }, h('h1', { tabindex: '-1', text: `${isMaster ? 'Master' : 'Viewer'} · ${name}` }), page.pill),
      isMaster ? h('a', { href: `${base}/viewer`, target: '_blank', class: 'btn', text: 'Open a viewer in a new tab' }) : null),
    h('div', { class: 'live-grid' },
      h('div', { class: 'area-setup' }, page.controls.el),
      h('div', { class: 'area-media stack-lg' }, ...mediaCards(page)),
      h('div', { class: 'area-messages' }, page.messages.el)),
    page.log.el);

  page.controls.devices.refresh();
  const onHide = () => stop(page);
  window.addEventListener('pagehide', onHide);
  return () => { window.removeEventListener('pagehide', onHide); stop(page); };
}

// ---- the setup form ----

function controls(page) {
  const devices = devicePickers();
  const video = checkbox('Send video', { name: 'sendVideo', checked: true });
  const audio = checkbox('Send audio', { name: 'sendAudio', checked: true });
  const relay = checkbox('Relay only (force TURN)', { name: 'relayOnly' });
  const clientId = h('input', { name: 'clientId', value: randomClientId('viewer'), maxLength: 256, spellcheck: 'false', autocapitalize: 'off', pattern: '[A-Za-z0-9_.\\-]+' });
  const start = h('button', { type: 'submit', class: 'btn btn-primary', id: 'start', text: 'Start' });
  const stopButton = h('button', { type: 'button', class: 'btn', id: 'stop', text: 'Stop', disabled: true });
  const syncDevices = () => {
    devices.camera.disabled = !video.input.checked || !!page.session;
    devices.microphone.disabled = !audio.input.checked || !!page.session;
  };
  video.input.addEventListener('change', syncDevices);
  audio.input.addEventListener('change', syncDevices);
  const form = h('form', { class: 'stack', id: 'live-form' },
    devices.el,
    h('fieldset', { class: 'checks' }, h('legend', { text: 'Options' }), video.el, audio.el, relay.el),
    page.isMaster ? null : field('Client ID', clientId, 'How this viewer is known to the master. Letters, digits, . _ -'),
    h('div', { class: 'actions' }, start, stopButton));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(start, 'Starting…', () => begin(page)).finally(() => setRunning(page, !!page.session));
  });
  stopButton.addEventListener('click', () => { stop(page); start.focus(); });
  const el = h('section', { class: 'card', 'aria-labelledby': 'setup-h' }, h('h2', { id: 'setup-h', text: 'Setup' }), form);
  const read = () => ({
    camera: devices.camera.value, microphone: devices.microphone.value,
    sendVideo: video.input.checked, sendAudio: audio.input.checked, relayOnly: relay.input.checked,
    clientId: clientId.value.trim(),
  });
  const lock = (running) => {
    for (const input of [video.input, audio.input, relay.input, clientId]) input.disabled = running;
    start.disabled = running;
    stopButton.disabled = !running;
    syncDevices();
  };
  return { el, devices, read, lock, start };
}

function setRunning(page, running) {
  page.controls.lock(running);
  page.messages.setEnabled(running);
}

// ---- media cards ----

function mediaCards(page) {
  page.localVideo = h('video', { class: 'video', id: 'local-video', autoplay: true, playsInline: true, muted: true, 'aria-label': 'Your camera' });
  if (page.isMaster) {
    page.viewerList = h('div', { class: 'viewer-list', id: 'viewers' }, h('p', { class: 'hint', text: 'No viewer connected yet.' }));
    page.viewerCount = h('span', { class: 'count', text: '0' });
    return [
      h('section', { class: 'card', 'aria-labelledby': 'local-h' }, h('h2', { id: 'local-h', text: 'Your camera' }), videoFrame(page.localVideo, 'Not sending video', 'video-frame-compact')),
      h('section', { class: 'card', 'aria-labelledby': 'viewers-h' },
        h('h2', { id: 'viewers-h' }, 'Viewers ', page.viewerCount), page.viewerList),
    ];
  }
  page.remoteVideo = h('video', { class: 'video', id: 'remote-video', autoplay: true, playsInline: true, 'aria-label': 'Video from the master' });
  page.stats = statsPanel('Statistics of the connection to the master');
  page.stats.el.id = 'viewer-stats';
  return [
    h('section', { class: 'card', 'aria-labelledby': 'remote-h' },
      h('h2', { id: 'remote-h', text: 'From the master' }),
      h('div', { class: 'video-stage' }, videoFrame(page.remoteVideo, 'No video yet'), h('div', { class: 'pip video-frame' }, page.localVideo))),
    h('section', { class: 'card', 'aria-labelledby': 'stats-h' }, h('h2', { id: 'stats-h', text: 'Statistics' }), page.stats.el),
  ];
}

function videoFrame(video, emptyText, extraClass = '') {
  return h('div', { class: `video-frame ${extraClass}`.trim() }, video, h('p', { class: 'video-empty', text: emptyText }));
}

function showStream(video, stream) {
  video.srcObject = stream;
  video.closest('.video-frame')?.classList.toggle('has-video', !!stream);
  if (!stream) return Promise.resolve();
  return video.play().catch(() => {
    // Sound needs a gesture the browser did not see: play muted instead.
    video.muted = true;
    return video.play().catch(() => {});
  });
}

// ---- starting and stopping ----

async function begin(page) {
  const { app } = page;
  const opts = page.controls.read();
  hideBanner('live');
  if (!page.isMaster && (!CLIENT_ID.test(opts.clientId) || /^aws_/i.test(opts.clientId))) {
    return showBanner({ id: 'live', title: 'The client ID is not valid', text: 'Use 1 to 256 letters, digits, . _ or -, not starting with AWS_.' });
  }
  page.startedAt = performance.now();
  try {
    const channel = await app.kvs.describeChannel({ name: page.name });
    page.stream = await openMedia(page, opts);
    const Session = page.isMaster ? MasterSession : ViewerSession;
    const session = new Session({
      kvs: app.kvs, channel, localStream: page.stream, relayOnly: opts.relayOnly,
      clientId: page.isMaster ? randomClientId('master') : opts.clientId,
    });
    page.session = session;
    wire(page, session);
    page.log.add({ kind: 'session', text: `Starting as ${page.isMaster ? 'master' : `viewer ${opts.clientId}`}${opts.relayOnly ? ', relay only' : ''}` });
    await session.start();
  } catch (err) {
    page.log.add({ kind: 'session', text: err.message, level: 'error' });
    app.fail(err, page.isMaster ? 'Could not start the master' : 'Could not start the viewer');
    stop(page);
  }
  return undefined;
}

async function openMedia(page, opts) {
  if (!opts.sendVideo && !opts.sendAudio) return null;
  const pick = (id) => (id ? { deviceId: { exact: id } } : true);
  const stream = await navigator.mediaDevices.getUserMedia({
    video: opts.sendVideo ? { ...(opts.camera ? { deviceId: { exact: opts.camera } } : {}), width: { ideal: 640 }, height: { ideal: 480 } } : false,
    audio: opts.sendAudio ? pick(opts.microphone) : false,
  });
  page.controls.devices.refresh(); // labels are readable once access was granted
  showStream(page.localVideo, stream);
  return stream;
}

function stop(page) {
  for (const s of page.samplers) s.stop();
  page.samplers.clear();
  if (page.session) page.session.stop();
  page.session = null;
  if (page.stream) for (const t of page.stream.getTracks()) t.stop();
  page.stream = null;
  showStream(page.localVideo, null);
  if (page.remoteVideo) showStream(page.remoteVideo, null);
  if (page.viewerList) {
    page.viewers.clear();
    replace(page.viewerList, h('p', { class: 'hint', text: 'No viewer connected yet.' }));
    page.viewerCount.textContent = '0';
  }
  setRunning(page, false);
}

function sendMessage(page, text) {
  if (!page.session) return false;
  const sent = page.session.sendMessage(text);
  if (!sent) {
    page.log.add({ kind: 'data', text: 'Not sent: no data channel is open yet', level: 'warn' });
    return false;
  }
  page.messages.add(page.isMaster ? `You → ${sent === 1 ? '1 viewer' : `${sent} viewers`}` : 'You → master', text, true);
  return true;
}

// ---- session events ----

function wire(page, session) {
  const waitingFor = page.isMaster ? 'viewers' : 'the master';
  session.addEventListener('log', (e) => page.log.add(e.detail));
  session.addEventListener('state', (e) => replace(page.pill, statePill(e.detail.state, waitingFor)));
  session.addEventListener('message', (e) => page.messages.add(page.isMaster ? e.detail.peer.id : 'Master', e.detail.text));
  session.addEventListener('signalingClosed', () => onSignalingLost(page, session));
  if (page.isMaster) wireMaster(page, session);
  else wireViewer(page, session);
}

function wireViewer(page, session) {
  session.addEventListener('peer', (e) => track(page, e.detail.peer, (s) => page.stats.update(s, page.firstFrameMs)));
  session.addEventListener('remoteStream', (e) => {
    if (page.remoteVideo.srcObject === e.detail.stream) return;
    showStream(page.remoteVideo, e.detail.stream);
    timeToFirstFrame(page.remoteVideo, page.startedAt).then((ms) => {
      page.firstFrameMs = ms;
      page.log.add({ kind: 'peer', text: `First video frame after ${Math.round(ms)} ms` });
    });
  });
}

function wireMaster(page, session) {
  session.addEventListener('peer', (e) => addViewerCard(page, e.detail.peer));
  session.addEventListener('peerRemoved', (e) => removeViewerCard(page, e.detail.peer));
  session.addEventListener('peerState', (e) => {
    const card = page.viewers.get(e.detail.peer);
    if (card) replace(card.state, statePill(mapPeerState(e.detail.state)));
  });
  session.addEventListener('remoteStream', (e) => {
    const card = page.viewers.get(e.detail.peer);
    if (!card || card.video.srcObject === e.detail.stream) return;
    showStream(card.video, e.detail.stream);
    timeToFirstFrame(card.video, e.detail.peer.startedAt).then((ms) => { card.firstFrameMs = ms; });
  });
}

function mapPeerState(state) {
  return { new: 'connecting', connecting: 'connecting', connected: 'connected', disconnected: 'disconnected', failed: 'failed', closed: 'closed' }[state] || state;
}

// Samples a peer connection's statistics while it lives.
function track(page, peer, onSample) {
  const sampler = new StatsSampler(peer.pc, onSample);
  page.samplers.add(sampler);
  peer.sampler = sampler;
  sampler.start();
}

function addViewerCard(page, peer) {
  if (!page.viewers.size) replace(page.viewerList);
  const video = h('video', { class: 'video', autoplay: true, playsInline: true, muted: true, 'aria-label': `Video from ${peer.id}` });
  const stats = statsPanel(`Statistics of ${peer.id}`);
  const state = h('span', { class: 'state' }, statePill('connecting'));
  const card = { video, stats, state, firstFrameMs: null };
  card.el = h('article', { class: 'viewer-card', dataset: { viewer: peer.id } },
    h('div', { class: 'card-head' }, h('h3', { text: peer.id }), state),
    h('div', { class: 'viewer-body' }, videoFrame(video, 'Not sending video'), stats.el));
  page.viewers.set(peer, card);
  page.viewerList.append(card.el);
  page.viewerCount.textContent = String(page.viewers.size);
  track(page, peer, (s) => stats.update(s, card.firstFrameMs));
}

function removeViewerCard(page, peer) {
  const card = page.viewers.get(peer);
  if (!card) return;
  if (peer.sampler) { peer.sampler.stop(); page.samplers.delete(peer.sampler); }
  card.el.remove();
  page.viewers.delete(peer);
  page.viewerCount.textContent = String(page.viewers.size);
  if (!page.viewers.size) replace(page.viewerList, h('p', { class: 'hint', text: 'No viewer connected yet.' }));
}

// The signaling connection closed without being asked to: find out why.
// A deleted channel ends the session with a banner; otherwise signaling is
// reconnected and the peer connections carry on.
async function onSignalingLost(page, session) {
  const { app } = page;
  try {
    await app.kvs.describeChannel({ arn: session.channel.ChannelARN });
  } catch (err) {
    if (page.session !== session) return;
    if (isNotFound(err)) {
      stop(page);
      showBanner({ id: 'live', kind: 'error', title: `Channel ${page.name} was deleted while this page was open`,
        text: 'The session has ended. Create the channel again to continue.',
        actions: [{ label: 'Back to channels', onClick: () => app.navigate('/console/channels') }] });
      return;
    }
    app.fail(err, 'The signaling connection was lost');
    stop(page);
    return;
  }
  if (page.session !== session) return;
  page.log.add({ kind: 'signaling', text: 'Reconnecting to signaling…', level: 'warn' });
  try {
    await session.reconnectSignaling();
  } catch (err) {
    app.fail(err, 'Could not reconnect to signaling');
    stop(page);
  }
}
