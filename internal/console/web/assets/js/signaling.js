// The signaling WebSocket (spec section 6): a presigned wss:// URL, JSON
// text frames out {action, messagePayload, recipientClientId,
// correlationId}, JSON text frames in {messageType, senderClientId,
// messagePayload | statusResponse}. Payloads are base64 of a JSON document:
// {type, sdp} for descriptions, the candidate's own JSON for candidates.

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Base64 of the UTF-8 bytes of JSON.stringify(value). */
export function encodePayload(value) {
  const data = utf8.encode(JSON.stringify(value));
  let binary = '';
  for (let i = 0; i < data.length; i += 0x8000) {
    binary += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** The JSON value inside a base64 payload. */
export function decodePayload(text) {
  const binary = atob(text);
  const data = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(fromUtf8.decode(data));
}

/**
 * One signaling connection. Events (CustomEvent, details in `detail`):
 *   open; sdpOffer / sdpAnswer {senderClientId, description};
 *   iceCandidate {senderClientId, candidate}; statusResponse {...};
 *   goAway; reconnectIceServer; close {code, reason, opened};
 *   unknown {frame} for anything unexpected.
 */
export class SignalingClient extends EventTarget {
  /** @param {{url:string, role:'MASTER'|'VIEWER'}} opts */
  constructor({ url, role }) {
    super();
    this.url = url;
    this.role = role;
    this.ws = null;
    this.opened = false;
    this.nextCorrelation = 1;
  }

  /** Connects; resolves once open, rejects if the socket closes first. */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.addEventListener('open', () => {
        this.opened = true;
        this.#emit('open');
        resolve();
      });
      ws.addEventListener('message', (e) => this.#receive(e.data));
      ws.addEventListener('close', (e) => {
        this.#emit('close', { code: e.code, reason: e.reason, opened: this.opened });
        if (!this.opened) reject(new Error(`The signaling WebSocket to ${new URL(this.url).origin} could not be opened ` +
          `(close code ${e.code}): the server refused it, or this browser does not trust that address's TLS certificate.`));
      });
    });
  }

  /** Closes the connection normally. */
  close() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, 'closed by the console');
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  sendSdpOffer(description, recipient) {
    return this.#send('SDP_OFFER', { type: description.type, sdp: description.sdp }, recipient);
  }

  sendSdpAnswer(description, recipient) {
    return this.#send('SDP_ANSWER', { type: description.type, sdp: description.sdp }, recipient);
  }

  sendIceCandidate(candidate, recipient) {
    return this.#send('ICE_CANDIDATE', candidate.toJSON ? candidate.toJSON() : candidate, recipient);
  }

  // A master must name the viewer; a viewer's messages always go to the
  // master, so it names no one. Every message carries a correlation id so a
  // refusal comes back as STATUS_RESPONSE instead of silence.
  #send(action, payload, recipient) {
    if (!this.isOpen) throw new Error('The signaling connection is not open');
    const message = { action, messagePayload: encodePayload(payload), correlationId: `console-${this.nextCorrelation++}` };
    if (this.role === 'MASTER') message.recipientClientId = recipient;
    this.ws.send(JSON.stringify(message));
    return message.correlationId;
  }

  #receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
      this.#dispatch(frame);
    } catch (err) {
      this.#emit('unknown', { frame: frame || data, error: err.message });
    }
  }

  #dispatch(frame) {
    const sender = frame.senderClientId || 'MASTER';
    switch (frame.messageType) {
      case 'SDP_OFFER':
        return this.#emit('sdpOffer', { senderClientId: sender, description: decodePayload(frame.messagePayload) });
      case 'SDP_ANSWER':
        return this.#emit('sdpAnswer', { senderClientId: sender, description: decodePayload(frame.messagePayload) });
      case 'ICE_CANDIDATE':
        return this.#emit('iceCandidate', { senderClientId: sender, candidate: decodePayload(frame.messagePayload) });
      case 'STATUS_RESPONSE':
        return this.#emit('statusResponse', frame.statusResponse || {});
      case 'GO_AWAY':
        return this.#emit('goAway');
      case 'RECONNECT_ICE_SERVER':
        return this.#emit('reconnectIceServer');
      default:
        return this.#emit('unknown', { frame });
    }
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
