// Building blocks of the master and viewer pages: the statistics list, the
// signaling log, the data-channel messages, and camera/microphone pickers.

import { h, replace, field, clock, pill } from '../ui.js';
import { statRows } from '../stats.js';

// Both lists keep only their newest entries, so a long session does not
// grow the page without end.
const MAX_LOG_LINES = 400;
const MAX_MESSAGES = 400;

/** A <dl> of live statistics; update(summary, firstFrameMs) refreshes it. */
export function statsPanel(label) {
  const list = h('dl', { class: 'facts stats', 'aria-label': label });
  const cells = new Map();
  const update = (summary, firstFrameMs) => {
    for (const [key, name, text] of statRows(summary, firstFrameMs)) {
      let cell = cells.get(key);
      if (!cell) {
        cell = h('dd', { dataset: { stat: key } });
        cells.set(key, cell);
        list.append(h('div', {}, h('dt', { text: name }), cell));
      }
      cell.textContent = text;
    }
    list.dataset.framesDecoded = String(summary.inbound.framesDecoded ?? 0);
    list.dataset.localCandidate = summary.local ? summary.local.type : '';
    list.dataset.remoteCandidate = summary.remote ? summary.remote.type : '';
  };
  return { el: list, update };
}

/** The signaling log: timestamped lines, newest at the bottom. */
export function logPanel() {
  const list = h('ol', { class: 'log', id: 'signaling-log', tabindex: '0', 'aria-label': 'Signaling log' });
  const clear = h('button', { type: 'button', class: 'btn btn-small btn-quiet', text: 'Clear', on: { click: () => replace(list) } });
  const add = ({ kind, text, level = 'info' }) => {
    const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
    list.append(h('li', { class: `log-${level}` },
      h('time', { text: clock() }), h('span', { class: `log-kind log-kind-${kind}`, text: kind }), h('span', { class: 'log-text', text })));
    while (list.children.length > MAX_LOG_LINES) list.firstElementChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  };
  const el = h('section', { class: 'card', 'aria-labelledby': 'log-h' },
    h('div', { class: 'card-head' }, h('h2', { id: 'log-h', text: 'Signaling log' }), clear), list);
  return { el, add };
}

/**
 * Data-channel messages (the newest MAX_MESSAGES) with a box to send one;
 * onSend(text) returns false when it could not.
 */
export function messagesPanel(onSend, placeholder) {
  const list = h('ol', { class: 'messages', id: 'messages', 'aria-live': 'polite', 'aria-label': 'Data channel messages' });
  const input = h('input', { name: 'message', autocomplete: 'off', maxLength: 10000, placeholder });
  const send = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Send' });
  const form = h('form', { class: 'send-form', id: 'message-form' }, field('Message', input), send);
  const add = (from, text, mine = false) => {
    list.append(h('li', { class: mine ? 'mine' : '' },
      h('span', { class: 'msg-from', text: from }), h('span', { class: 'msg-text', text })));
    while (list.children.length > MAX_MESSAGES) list.firstElementChild.remove();
    list.scrollTop = list.scrollHeight;
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text) return;
    if (onSend(text) !== false) input.value = '';
  });
  const el = h('section', { class: 'card', 'aria-labelledby': 'msg-h' },
    h('h2', { id: 'msg-h', text: 'Data channel' }), list, form);
  return { el, add, setEnabled: (on) => { input.disabled = !on; send.disabled = !on; } };
}

/** Camera and microphone pickers, filled from enumerateDevices(). */
export function devicePickers() {
  const camera = h('select', { name: 'camera' });
  const microphone = h('select', { name: 'microphone' });
  const refresh = async () => {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch { /* no media devices API: the defaults stay */ }
    fill(camera, devices.filter((d) => d.kind === 'videoinput'), 'Camera');
    fill(microphone, devices.filter((d) => d.kind === 'audioinput'), 'Microphone');
  };
  return {
    camera, microphone, refresh,
    el: [field('Camera', camera), field('Microphone', microphone)],
  };
}

function fill(select, devices, noun) {
  const chosen = select.value;
  replace(select, h('option', { value: '', text: `Default ${noun.toLowerCase()}` }),
    devices.filter((d) => d.deviceId && d.deviceId !== 'default')
      .map((d, i) => h('option', { value: d.deviceId, text: d.label || `${noun} ${i + 1}` })));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : '';
}

const STATE_TEXT = {
  idle: ['Not started', 'neutral'],
  connecting: ['Connecting…', 'warn'],
  waiting: ['Waiting', 'warn'],
  connected: ['Connected', 'good'],
  disconnected: ['Disconnected', 'warn'],
  closed: ['Stopped', 'neutral'],
  failed: ['Failed', 'bad'],
};

/** A pill for a session state; waiting says for whom. */
export function statePill(state, waitingFor) {
  const [text, tone] = STATE_TEXT[state] || [state, 'neutral'];
  return pill(state === 'waiting' ? `Waiting for ${waitingFor}` : text, tone);
}
