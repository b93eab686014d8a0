// WebRTC sessions over Switchboard signaling, the way KVS masters and
// viewers behave: the viewer offers and trickles its ICE candidates to the
// master; the master keeps one RTCPeerConnection per viewer client id,
// answers each offer and trickles its candidates back to that viewer. ICE
// servers come from GetIceServerConfig on the channel's HTTPS endpoint;
// relay-only adds iceTransportPolicy "relay".
//
// Sessions are EventTargets. Events (detail in CustomEvent.detail):
//   log {kind, text, level}; state {state}; peer {peer}; peerRemoved {peer};
//   peerState {peer, state}; remoteStream {peer, stream};
//   message {peer, text}; goAway; signalingClosed {code, reason}.

import { presignWebSocketURL } from './sigv4.js';
import { SignalingClient } from './signaling.js';

/** The data channel label the KVS samples use. */
export const DATA_CHANNEL_LABEL = 'kvsDataChannel';

/** Maps GetIceServerConfig entries onto RTCIceServer objects. */
export function toRtcIceServers(list) {
  return list.map((s) => ({ urls: s.Uris, username: s.Username, credential: s.Password }));
}

/** Whether any ICE server is a TURN relay. */
export function hasRelay(iceServers) {
  return iceServers.some((s) => [].concat(s.urls).some((u) => /^turns?:/.test(u)));
}

/** A random client id that is valid in KVS (letters, digits, dash). */
export function randomClientId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * One RTCPeerConnection to one remote party, with its data channel and the
 * candidates that arrived before the remote description.
 */
export class PeerLink {
  constructor(session, remoteId, pc) {
    this.session = session;
    this.id = remoteId; // the viewer's client id, or "MASTER"
    this.pc = pc;
    this.channel = null;
    this.pending = [];
    this.startedAt = performance.now();
    this.remoteStream = null;
  }

  /** Adds a remote candidate now, or once the remote description is set. */
  async addCandidate(candidate) {
    if (!this.pc.remoteDescription) {
      this.pending.push(candidate);
      return;
    }
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (err) {
      this.session.log('ice', `Could not add a candidate from ${this.id}: ${err.message}`, 'warn');
    }
  }

  async setRemote(description) {
    await this.pc.setRemoteDescription(description);
    const queued = this.pending.splice(0);
    for (const c of queued) await this.addCandidate(c);
  }

  /** Wires an open-or-opening data channel. */
  attachChannel(channel) {
    this.channel = channel;
    channel.addEventListener('open', () => this.session.log('data', `Data channel open with ${this.id}`));
    channel.addEventListener('close', () => this.session.log('data', `Data channel closed with ${this.id}`));
    channel.addEventListener('message', (e) => this.session.emit('message', { peer: this, text: String(e.data) }));
  }

  /** Sends text on the data channel; false when it is not open. */
  send(text) {
    if (!this.channel || this.channel.readyState !== 'open') return false;
    this.channel.send(text);
    return true;
  }

  close() {
    if (this.channel) this.channel.close();
    this.pc.close();
  }
}

/** What master and viewer sessions share: endpoints, ICE, signaling. */
class Session extends EventTarget {
  /**
   * @param {object} o
   * @param {import('./kvs.js').KvsClient} o.kvs
   * @param {{ChannelARN:string, ChannelName:string}} o.channel
   * @param {MediaStream|null} o.localStream
   * @param {boolean} o.relayOnly
   * @param {string} o.clientId
   */
  constructor({ kvs, channel, localStream, relayOnly, clientId }, role) {
    super();
    Object.assign(this, { kvs, channel, localStream, relayOnly, clientId, role });
    this.signaling = null;
    this.iceServers = [];
    this.stopped = false;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  log(kind, text, level = 'info') {
    this.emit('log', { kind, text, level });
  }

  setState(state) {
    this.state = state;
    this.emit('state', { state });
  }

  /** Endpoints, ICE servers and an open signaling connection. */
  async connect() {
    const arn = this.channel.ChannelARN;
    const endpoints = await this.kvs.getEndpoints(arn, this.role);
    this.log('signaling', `Endpoints for ${this.role}: ${endpoints.WSS}, ${endpoints.HTTPS}`);
    const list = await this.kvs.getIceServerConfig(endpoints.HTTPS, arn, this.clientId);
    this.iceServers = toRtcIceServers(list);
    const uris = this.iceServers.flatMap((s) => [].concat(s.urls));
    this.log('ice', `ICE servers: ${uris.join(', ') || 'none'}`);
    if (this.relayOnly && !hasRelay(this.iceServers)) {
      throw new Error('Relay only was asked for, but this server offers no TURN relay in GetIceServerConfig, so no connection can be made. Turn relay only off, or run the server with its TURN relay enabled.');
    }
    await this.openSignaling(endpoints.WSS);
  }

  async openSignaling(wss) {
    const url = await presignWebSocketURL({
      endpoint: wss, channelARN: this.channel.ChannelARN,
      clientId: this.role === 'VIEWER' ? this.clientId : undefined,
      credentials: this.kvs.credentials, region: this.kvs.region,
      now: new Date(Date.now() + this.kvs.clockOffsetMs),
    });
    const signaling = new SignalingClient({ url, role: this.role });
    this.wireSignaling(signaling);
    this.signaling = signaling;
    await signaling.open();
    this.log('signaling', `Connected to signaling as ${this.role === 'VIEWER' ? `viewer ${this.clientId}` : 'master'}`);
  }

  wireSignaling(s) {
    s.addEventListener('sdpOffer', (e) => this.guard(this.onOffer(e.detail)));
    s.addEventListener('sdpAnswer', (e) => this.guard(this.onAnswer(e.detail)));
    s.addEventListener('iceCandidate', (e) => this.guard(this.onCandidate(e.detail)));
    s.addEventListener('statusResponse', (e) => {
      const r = e.detail;
      this.log('signaling', `Server refused message ${r.correlationId}: ${r.errorType} (${r.statusCode}) ${r.description || ''}`, 'error');
    });
    s.addEventListener('goAway', () => {
      this.log('signaling', 'GO_AWAY: the server is about to close this connection', 'warn');
      this.emit('goAway');
    });
    s.addEventListener('reconnectIceServer', () => this.log('ice', 'RECONNECT_ICE_SERVER: the relays are going away', 'warn'));
    s.addEventListener('unknown', (e) => this.log('signaling', `Ignored an unexpected frame: ${JSON.stringify(e.detail.frame).slice(0, 200)}`, 'warn'));
    s.addEventListener('close', (e) => {
      if (this.signaling !== s || !e.detail.opened) return;
      this.log('signaling', `Signaling closed (code ${e.detail.code}${e.detail.reason ? ', ' + e.detail.reason : ''})`, this.stopped ? 'info' : 'warn');
      if (!this.stopped) this.emit('signalingClosed', e.detail);
    });
  }

  /** Reconnects signaling only; peer connections that are up stay up. */
  async reconnectSignaling() {
    const endpoints = await this.kvs.getEndpoints(this.channel.ChannelARN, this.role);
    await this.openSignaling(endpoints.WSS);
  }

  // Runs an async handler, turning a failure into a log line.
  guard(promise) {
    promise.catch((err) => this.log('peer', err.message, 'error'));
  }

  /** A peer connection with this session's ICE settings and handlers. */
  newPeer(remoteId) {
    const pc = new RTCPeerConnection({
      iceServers: this.iceServers,
      iceTransportPolicy: this.relayOnly ? 'relay' : 'all',
    });
    const peer = new PeerLink(this, remoteId, pc);
    pc.addEventListener('icecandidate', (e) => {
      if (!e.candidate || !this.signaling || !this.signaling.isOpen) return;
      this.signaling.sendIceCandidate(e.candidate, remoteId);
      this.log('ice', `ICE_CANDIDATE sent to ${remoteId}: ${candidateSummary(e.candidate.candidate)}`);
    });
    pc.addEventListener('track', (e) => {
      peer.remoteStream = e.streams[0] || peer.remoteStream || new MediaStream();
      if (!e.streams[0]) peer.remoteStream.addTrack(e.track);
      this.log('peer', `Receiving ${e.track.kind} from ${remoteId}`);
      this.emit('remoteStream', { peer, stream: peer.remoteStream });
    });
    pc.addEventListener('connectionstatechange', () => {
      this.log('peer', `Connection with ${remoteId}: ${pc.connectionState}`, pc.connectionState === 'failed' ? 'error' : 'info');
      const state = pc.connectionState;
      if (!this.stopped && (state === 'connected' || (this.role === 'VIEWER' && ['disconnected', 'failed'].includes(state)))) {
        this.setState(state);
      }
      this.emit('peerState', { peer, state: pc.connectionState });
    });
    pc.addEventListener('datachannel', (e) => peer.attachChannel(e.channel));
    return peer;
  }

  addLocalTracks(pc) {
    if (!this.localStream) return;
    for (const track of this.localStream.getTracks()) pc.addTrack(track, this.localStream);
  }

  /** Ends the session: peer connections, data channels, signaling. */
  stop() {
    this.stopped = true;
    if (this.signaling) this.signaling.close();
    this.setState('closed');
  }
}

// "host udp 192.0.2.2:50000" from a candidate line.
export function candidateSummary(line) {
  const f = line.replace(/^candidate:/, '').split(' ');
  const type = f[f.indexOf('typ') + 1];
  return `${type} ${f[2]} ${f[4]}:${f[5]}`;
}

/** The viewer side: one connection to the channel's master. */
export class ViewerSession extends Session {
  constructor(opts) {
    super(opts, 'VIEWER');
    this.peer = null;
  }

  async start() {
    this.setState('connecting');
    await this.connect();
    const peer = this.newPeer('MASTER');
    this.peer = peer;
    this.addLocalTracks(peer.pc);
    // Receive video and audio even when not sending them.
    const sending = new Set((this.localStream ? this.localStream.getTracks() : []).map((t) => t.kind));
    for (const kind of ['video', 'audio']) {
      if (!sending.has(kind)) peer.pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    peer.attachChannel(peer.pc.createDataChannel(DATA_CHANNEL_LABEL));
    this.emit('peer', { peer });
    const offer = await peer.pc.createOffer();
    await peer.pc.setLocalDescription(offer);
    this.signaling.sendSdpOffer(peer.pc.localDescription);
    this.log('signaling', 'SDP_OFFER sent to the master');
    this.setState('waiting');
  }

  async onOffer({ senderClientId }) {
    this.log('signaling', `Ignored an SDP_OFFER from ${senderClientId}: this viewer makes the offer`, 'warn');
  }

  async onAnswer({ description }) {
    this.log('signaling', 'SDP_ANSWER received from the master');
    await this.peer.setRemote(description);
  }

  async onCandidate({ candidate }) {
    this.log('ice', `ICE_CANDIDATE received from the master: ${candidateSummary(candidate.candidate || '')}`);
    if (this.peer) await this.peer.addCandidate(candidate);
  }

  /** Sends text to the master; false when the data channel is not open. */
  sendMessage(text) {
    return !!this.peer && this.peer.send(text);
  }

  stop() {
    if (this.peer) this.peer.close();
    super.stop();
  }
}

/** The master side: one connection per viewer, created by its offer. */
export class MasterSession extends Session {
  constructor(opts) {
    super(opts, 'MASTER');
    this.viewers = new Map();
    this.early = new Map(); // candidates from viewers whose offer is not in yet
  }

  async start() {
    this.setState('connecting');
    await this.connect();
    this.setState('waiting');
    this.log('signaling', 'Waiting for viewers to send an offer');
  }

  async onOffer({ senderClientId: id, description }) {
    this.log('signaling', `SDP_OFFER received from ${id}`);
    const old = this.viewers.get(id);
    if (old) {
      this.log('peer', `${id} sent a new offer: its previous connection is replaced`);
      this.removeViewer(old);
    }
    const peer = this.newPeer(id);
    this.viewers.set(id, peer);
    peer.pc.addEventListener('connectionstatechange', () => {
      if (['failed', 'closed'].includes(peer.pc.connectionState)) this.removeViewer(peer);
    });
    this.emit('peer', { peer });
    await peer.setRemote(description);
    for (const c of this.early.get(id) || []) await peer.addCandidate(c);
    this.early.delete(id);
    this.addLocalTracks(peer.pc);
    const answer = await peer.pc.createAnswer();
    await peer.pc.setLocalDescription(answer);
    this.signaling.sendSdpAnswer(peer.pc.localDescription, id);
    this.log('signaling', `SDP_ANSWER sent to ${id}`);
  }

  async onAnswer({ senderClientId }) {
    this.log('signaling', `Ignored an SDP_ANSWER from ${senderClientId}: this master answers offers`, 'warn');
  }

  async onCandidate({ senderClientId: id, candidate }) {
    this.log('ice', `ICE_CANDIDATE received from ${id}: ${candidateSummary(candidate.candidate || '')}`);
    const peer = this.viewers.get(id);
    if (peer) return peer.addCandidate(candidate);
    if (!this.early.has(id)) this.early.set(id, []);
    this.early.get(id).push(candidate);
    return undefined;
  }

  removeViewer(peer) {
    if (this.viewers.get(peer.id) !== peer) return;
    this.viewers.delete(peer.id);
    peer.close();
    this.emit('peerRemoved', { peer });
    const connected = [...this.viewers.values()].some((p) => p.pc.connectionState === 'connected');
    if (!connected && !this.stopped) this.setState('waiting');
  }

  /** Sends text to every viewer with an open data channel; returns how many. */
  sendMessage(text) {
    let sent = 0;
    for (const peer of this.viewers.values()) if (peer.send(text)) sent++;
    return sent;
  }

  stop() {
    for (const peer of [...this.viewers.values()]) this.removeViewer(peer);
    super.stop();
  }
}
