// The channel list: search by name prefix, page through the results, see
// who is connected to each channel (refreshed every few seconds), and
// create a channel.

import { h, replace, field, formatTime, pill } from '../ui.js';
import { openCreateDialog } from './create.js';

const PAGE_SIZES = [10, 25, 50];
const LIVE_REFRESH_MS = 4000;
const LIVE_CONCURRENCY = 6;

// Runs fn on every item, at most `limit` at a time.
async function eachLimited(items, limit, fn) {
  const queue = [...items];
  const worker = async () => {
    while (queue.length) await fn(queue.shift());
  };
  await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, worker));
}

export default function channelsView({ app, main, query }) {
  const state = {
    prefix: query.get('prefix') || '',
    size: PAGE_SIZES.includes(Number(query.get('size'))) ? Number(query.get('size')) : 25,
    tokens: [null], // tokens[i] fetches page i
    page: 0,
    nextToken: null,
    channels: [],
    liveSupported: true,
  };
  const body = h('tbody');
  const status = h('p', { class: 'list-status', role: 'status' });
  const prev = h('button', { type: 'button', class: 'btn', text: 'Previous', disabled: true });
  const next = h('button', { type: 'button', class: 'btn', text: 'Next', disabled: true });
  const table = h('table', { class: 'table', id: 'channel-table' },
    h('caption', { class: 'visually-hidden', text: 'Signaling channels' }),
    h('thead', {}, h('tr', {}, ['Name', 'Status', 'Message TTL', 'Created', 'Master', 'Viewers', 'Open'].map((t) => h('th', { scope: 'col', text: t })))),
    body);

  const load = async () => {
    status.textContent = 'Loading…';
    try {
      const page = await app.kvs.listChannels({ prefix: state.prefix, maxResults: state.size, nextToken: state.tokens[state.page] });
      state.channels = page.channels;
      state.nextToken = page.nextToken;
      drawRows(body, state);
      status.textContent = summary(state);
      prev.disabled = state.page === 0;
      next.disabled = !state.nextToken;
      refreshLive();
    } catch (err) {
      status.textContent = '';
      app.fail(err, 'Could not list the channels');
    }
  };

  let refreshing = false;
  const refreshLive = async () => {
    if (!state.liveSupported || document.hidden || refreshing) return;
    refreshing = true;
    try {
      await eachLimited(state.channels, LIVE_CONCURRENCY, async (ch) => {
        try {
          const live = await app.kvs.describeConnections(ch.ChannelARN);
          if (live === null) state.liveSupported = false;
          else ch.live = live;
        } catch { /* a channel deleted meanwhile: the next list shows it gone */ }
        if (state.liveSupported) drawLive(body, ch);
      });
      if (!state.liveSupported) drawRows(body, state);
    } finally {
      refreshing = false;
    }
  };

  prev.addEventListener('click', () => { state.page -= 1; load(); });
  next.addEventListener('click', () => {
    state.tokens[state.page + 1] = state.nextToken;
    state.page += 1;
    load();
  });

  main.append(
    h('div', { class: 'page-head' },
      h('h1', { tabindex: '-1', text: 'Channels' }),
      h('button', { type: 'button', class: 'btn btn-primary', id: 'create-channel', text: 'Create channel',
        on: { click: () => openCreateDialog(app, (name) => app.navigate(`/console/channels/${encodeURIComponent(name)}`)) } })),
    searchForm(state, () => {
      state.tokens = [null];
      state.page = 0;
      history.replaceState(null, '', listAddress(state));
      load();
    }),
    h('div', { class: 'card card-flush' }, table, status),
    h('nav', { class: 'pager', 'aria-label': 'Pages of channels' }, prev, next));

  load();
  const timer = setInterval(refreshLive, LIVE_REFRESH_MS);
  return () => clearInterval(timer);
}

function listAddress(state) {
  const q = new URLSearchParams();
  if (state.prefix) q.set('prefix', state.prefix);
  if (state.size !== 25) q.set('size', String(state.size));
  const s = q.toString();
  return `/console/channels${s ? '?' + s : ''}`;
}

function searchForm(state, onSearch) {
  const prefix = h('input', { type: 'search', name: 'prefix', value: state.prefix, pattern: '[A-Za-z0-9_.\\-]*', maxLength: 256, spellcheck: 'false', autocapitalize: 'off' });
  const size = h('select', { name: 'size' }, PAGE_SIZES.map((n) => h('option', { value: String(n), text: `${n} per page`, selected: n === state.size })));
  const form = h('form', { class: 'toolbar', role: 'search' },
    field('Name starts with', prefix),
    field('Page size', size),
    h('button', { type: 'submit', class: 'btn', text: 'Search' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    state.prefix = prefix.value.trim();
    state.size = Number(size.value);
    onSearch();
  });
  return form;
}

function summary(state) {
  const n = state.channels.length;
  if (!n) return state.prefix ? `No channel name starts with “${state.prefix}”.` : 'No channels yet. Create one to get started.';
  const first = state.page * state.size + 1;
  if (first === 1 && !state.nextToken) return n === 1 ? '1 channel.' : `${n} channels.`;
  return `Showing channels ${first} to ${first + n - 1}${state.nextToken ? '; more on the next page' : ''}.`;
}

function drawRows(body, state) {
  replace(body, state.channels.map((ch) => {
    const name = ch.ChannelName;
    const base = `/console/channels/${encodeURIComponent(name)}`;
    return h('tr', { dataset: { channel: name } },
      h('td', { dataset: { label: 'Name' } }, h('a', { href: base, class: 'channel-link', text: name })),
      h('td', { dataset: { label: 'Status' } }, pill(ch.ChannelStatus, ch.ChannelStatus === 'ACTIVE' ? 'good' : 'warn')),
      h('td', { dataset: { label: 'Message TTL' }, text: `${ch.SingleMasterConfiguration?.MessageTtlSeconds ?? '—'} s` }),
      h('td', { dataset: { label: 'Created' }, text: formatTime(ch.CreationTime) }),
      h('td', { dataset: { label: 'Master', live: 'master' }, text: liveText(state, ch, 'master') }),
      h('td', { dataset: { label: 'Viewers', live: 'viewers' }, text: liveText(state, ch, 'viewers') }),
      h('td', { dataset: { label: 'Open' }, class: 'row-actions' },
        h('a', { href: `${base}/master`, class: 'btn btn-small', text: 'Master', 'aria-label': `Open ${name} as master` }),
        h('a', { href: `${base}/viewer`, class: 'btn btn-small', text: 'Viewer', 'aria-label': `Open ${name} as viewer` })));
  }));
}

function liveText(state, ch, which) {
  if (!state.liveSupported) return 'n/a';
  if (!ch.live) return '…';
  if (which === 'master') return ch.live.masterConnected ? 'Connected' : '—';
  return String(ch.live.viewerCount);
}

function drawLive(body, ch) {
  const row = [...body.rows].find((r) => r.dataset.channel === ch.ChannelName);
  if (!row || !ch.live) return;
  row.querySelector('[data-live="master"]').textContent = ch.live.masterConnected ? 'Connected' : '—';
  row.querySelector('[data-live="viewers"]').textContent = String(ch.live.viewerCount);
}
