// Connection statistics from RTCPeerConnection.getStats(): which candidate
// pair carries the media (host, srflx, prflx or relay on each side), round
// trip time, bitrates, frames decoded, packet loss, and the time from the
// start of a session to its first video frame.

/** Picks the candidate pair in use: the transport's selected pair, else the nominated one. */
function selectedPair(report) {
  for (const s of report.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) return report.get(s.selectedCandidatePairId);
  }
  for (const s of report.values()) {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') return s;
  }
  return null;
}

function describeCandidate(c) {
  if (!c) return null;
  const via = c.candidateType === 'relay' && c.relayProtocol ? `, relay over ${c.relayProtocol}` : '';
  return { type: c.candidateType, protocol: c.protocol, address: c.address || c.ip || '', port: c.port, text: `${c.candidateType} (${c.protocol}${via})` };
}

function byKind(report, type, kind) {
  for (const s of report.values()) {
    if (s.type === type && (s.kind || s.mediaType) === kind) return s;
  }
  return null;
}

// kbit/s between two samples of a byte counter.
function bitrate(now, before, field) {
  if (!now || !before || now[field] == null || before[field] == null) return null;
  const seconds = (now.timestamp - before.timestamp) / 1000;
  if (seconds <= 0) return null;
  return Math.max(0, ((now[field] - before[field]) * 8) / 1000 / seconds);
}

/**
 * Turns two successive reports into the figures the pages show. `before`
 * may be null (first sample): rates are then unknown.
 */
export function summarize(report, before) {
  const pair = selectedPair(report);
  const inVideo = byKind(report, 'inbound-rtp', 'video');
  const inAudio = byKind(report, 'inbound-rtp', 'audio');
  const outVideo = byKind(report, 'outbound-rtp', 'video');
  const outAudio = byKind(report, 'outbound-rtp', 'audio');
  const prev = (s) => (before && s ? before.get(s.id) : null);
  return {
    local: describeCandidate(pair && report.get(pair.localCandidateId)),
    remote: describeCandidate(pair && report.get(pair.remoteCandidateId)),
    rttMs: pair && pair.currentRoundTripTime != null ? pair.currentRoundTripTime * 1000 : null,
    inbound: {
      videoKbps: bitrate(inVideo, prev(inVideo), 'bytesReceived'),
      audioKbps: bitrate(inAudio, prev(inAudio), 'bytesReceived'),
      framesDecoded: inVideo ? inVideo.framesDecoded ?? 0 : null,
      framesPerSecond: inVideo ? inVideo.framesPerSecond ?? null : null,
      width: inVideo ? inVideo.frameWidth ?? null : null,
      height: inVideo ? inVideo.frameHeight ?? null : null,
      packetsLost: sum([inVideo, inAudio], 'packetsLost'),
      packetsReceived: sum([inVideo, inAudio], 'packetsReceived'),
      jitterMs: inVideo && inVideo.jitter != null ? inVideo.jitter * 1000 : null,
    },
    outbound: {
      videoKbps: bitrate(outVideo, prev(outVideo), 'bytesSent'),
      audioKbps: bitrate(outAudio, prev(outAudio), 'bytesSent'),
      framesEncoded: outVideo ? outVideo.framesEncoded ?? 0 : null,
    },
  };
}

function sum(stats, field) {
  const present = stats.filter((s) => s && s[field] != null);
  return present.length ? present.reduce((n, s) => n + s[field], 0) : null;
}

/** Samples a peer connection every interval ms and hands each summary to onSample. */
export class StatsSampler {
  constructor(pc, onSample, interval = 1000) {
    this.pc = pc;
    this.onSample = onSample;
    this.interval = interval;
    this.timer = null;
    this.before = null;
  }

  start() {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.interval);
    this.sample();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  async sample() {
    if (this.pc.connectionState === 'closed') return this.stop();
    let report;
    try {
      report = await this.pc.getStats();
    } catch {
      return undefined; // the connection closed between two samples
    }
    const summary = summarize(report, this.before);
    this.before = report;
    this.onSample(summary);
    return summary;
  }
}

/**
 * Resolves with the milliseconds from `since` (a performance.now() time)
 * to the first video frame the element presents.
 */
export function timeToFirstFrame(video, since) {
  return new Promise((resolve) => {
    if ('requestVideoFrameCallback' in video) {
      video.requestVideoFrameCallback((now) => resolve(now - since));
    } else {
      video.addEventListener('loadeddata', () => resolve(performance.now() - since), { once: true });
    }
  });
}

// ---- formatting for the pages ----

/** Formats a number with a unit, or an em dash when unknown. */
export function fmt(value, unit = '', digits = 0) {
  if (value == null || Number.isNaN(value)) return '—';
  return `${value.toFixed(digits)}${unit ? ' ' + unit : ''}`;
}

/** The rows a stats panel shows, as [key, label, text]. */
export function statRows(s, firstFrameMs) {
  const lossBase = (s.inbound.packetsLost ?? 0) + (s.inbound.packetsReceived ?? 0);
  const lossPct = lossBase > 0 ? (100 * (s.inbound.packetsLost ?? 0)) / lossBase : null;
  const size = s.inbound.width ? `${s.inbound.width}×${s.inbound.height}` : '—';
  return [
    ['localCandidate', 'Local candidate', s.local ? s.local.text : '—'],
    ['remoteCandidate', 'Remote candidate', s.remote ? s.remote.text : '—'],
    ['rtt', 'Round trip', fmt(s.rttMs, 'ms')],
    ['inboundVideo', 'Video in', fmt(s.inbound.videoKbps, 'kbit/s')],
    ['inboundAudio', 'Audio in', fmt(s.inbound.audioKbps, 'kbit/s')],
    ['outboundVideo', 'Video out', fmt(s.outbound.videoKbps, 'kbit/s')],
    ['framesDecoded', 'Frames decoded', s.inbound.framesDecoded == null ? '—' : String(s.inbound.framesDecoded)],
    ['frameRate', 'Frame rate', fmt(s.inbound.framesPerSecond, 'fps')],
    ['resolution', 'Resolution', size],
    ['packetsLost', 'Packets lost', s.inbound.packetsLost == null ? '—' : `${s.inbound.packetsLost} (${fmt(lossPct, '%', 1)})`],
    ['jitter', 'Jitter', fmt(s.inbound.jitterMs, 'ms', 1)],
    ['firstFrame', 'Time to first frame', fmt(firstFrameMs, 'ms')],
  ];
}
