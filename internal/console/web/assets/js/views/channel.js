// One channel: its details (ARN, endpoints, version, tags), who is
// connected, editing of the message TTL and the tags, and deletion.

import { h, replace, field, busy, formatTime, pill, copyButton, confirmDialog, showBanner } from '../ui.js';
import { isNotFound, describeError } from '../errors.js';
import { tagEditor, MAX_TAGS } from './tags.js';

const LIVE_REFRESH_MS = 3000;

export default async function channelView({ app, main, params: [name] }) {
  const base = `/console/channels/${encodeURIComponent(name)}`;
  main.append(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: '/console/channels', text: 'Channels' }), h('span', { 'aria-hidden': 'true', text: '/' }), h('span', { 'aria-current': 'page', text: name })));
  const body = h('div', { class: 'stack-lg' }, h('p', { class: 'list-status', role: 'status', text: 'Loading…' }));
  main.append(body);

  let channel;
  try {
    channel = await app.kvs.describeChannel({ name });
  } catch (err) {
    if (isNotFound(err)) return replace(body, missing(name)), undefined;
    app.fail(err, 'Could not load the channel');
    return replace(body), undefined;
  }
  const live = h('dl', { class: 'facts facts-inline', id: 'connections' });
  const view = { app, name, base, channel, body, live };
  await draw(view);
  const timer = setInterval(() => refreshLive(view), LIVE_REFRESH_MS);
  return () => clearInterval(timer);
}

function missing(name) {
  return h('section', { class: 'card narrow' },
    h('h1', { tabindex: '-1', text: `No channel “${name}”` }),
    h('p', { text: 'It does not exist, or it was deleted.' }),
    h('a', { href: '/console/channels', class: 'btn btn-primary', text: 'Back to channels' }));
}

async function draw(view) {
  const { app, channel } = view;
  const [tags, endpoints] = await Promise.all([
    app.kvs.listTags(channel.ChannelARN).catch((err) => { app.fail(err, 'Could not load the tags'); return {}; }),
    loadEndpoints(app, channel.ChannelARN),
  ]);
  replace(view.body,
    head(view),
    h('div', { class: 'grid-2' },
      detailsCard(channel),
      h('div', { class: 'stack-lg' }, connectionsCard(view), settingsCard(view))),
    endpointsCard(endpoints),
    tagsCard(view, tags));
  refreshLive(view);
}

function head(view) {
  const { channel, base } = view;
  const del = h('button', { type: 'button', class: 'btn btn-danger', id: 'delete-channel', text: 'Delete channel' });
  del.addEventListener('click', () => deleteChannel(view, del));
  return h('div', { class: 'page-head' },
    h('div', { class: 'title-row' }, h('h1', { tabindex: '-1', text: channel.ChannelName }), pill(channel.ChannelStatus, channel.ChannelStatus === 'ACTIVE' ? 'good' : 'warn')),
    h('div', { class: 'actions' },
      h('a', { href: `${base}/master`, target: '_blank', class: 'btn btn-primary', id: 'open-master', text: 'Open master' }),
      h('a', { href: `${base}/viewer`, target: '_blank', class: 'btn', id: 'open-viewer', text: 'Open viewer' }),
      del));
}

function fact(label, value, extra) {
  return h('div', {}, h('dt', { text: label }), h('dd', {}, value, extra || null));
}

function detailsCard(ch) {
  return h('section', { class: 'card', 'aria-labelledby': 'details-h' },
    h('h2', { id: 'details-h', text: 'Details' }),
    h('dl', { class: 'facts', id: 'channel-details' },
      fact('ARN', h('code', { class: 'wrap', dataset: { field: 'arn' }, text: ch.ChannelARN }), copyButton(ch.ChannelARN, 'the ARN')),
      fact('Type', ch.ChannelType),
      fact('Status', ch.ChannelStatus),
      fact('Created', formatTime(ch.CreationTime)),
      fact('Version', h('code', { dataset: { field: 'version' }, text: ch.Version })),
      fact('Message TTL', h('span', { dataset: { field: 'ttl' }, text: `${ch.SingleMasterConfiguration?.MessageTtlSeconds ?? '—'} seconds` }))));
}

function connectionsCard(view) {
  return h('section', { class: 'card', 'aria-labelledby': 'conn-h' },
    h('h2', { id: 'conn-h', text: 'Connected now' }), view.live);
}

async function refreshLive(view) {
  if (document.hidden) return;
  try {
    const live = await view.app.kvs.describeConnections(view.channel.ChannelARN);
    if (!live) return void replace(view.live, h('p', { class: 'hint', text: 'This server does not report connections.' }));
    replace(view.live,
      fact('Master', h('span', { dataset: { live: 'master' }, text: live.masterConnected ? 'Connected' : 'Not connected' })),
      fact('Viewers', h('span', { dataset: { live: 'viewers' }, text: String(live.viewerCount) })));
  } catch { /* shown by the next successful refresh */ }
}

async function loadEndpoints(app, arn) {
  try {
    const [master, viewer] = await Promise.all([app.kvs.getEndpoints(arn, 'MASTER'), app.kvs.getEndpoints(arn, 'VIEWER')]);
    return { master, viewer };
  } catch (err) {
    app.fail(err, 'Could not load the endpoints');
    return null;
  }
}

function endpointsCard(endpoints) {
  const rows = endpoints ? [
    ['Master', 'WSS', endpoints.master.WSS], ['Viewer', 'WSS', endpoints.viewer.WSS], ['Both', 'HTTPS', endpoints.master.HTTPS],
  ] : [];
  return h('section', { class: 'card', 'aria-labelledby': 'ep-h' },
    h('h2', { id: 'ep-h', text: 'Endpoints' }),
    h('p', { class: 'hint', text: 'What GetSignalingChannelEndpoint hands to SDKs for this channel.' }),
    h('table', { class: 'table table-compact' },
      h('thead', {}, h('tr', {}, ['Role', 'Protocol', 'Endpoint'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rows.map(([role, proto, url]) => h('tr', {},
        h('td', { dataset: { label: 'Role' }, text: role }), h('td', { dataset: { label: 'Protocol' }, text: proto }),
        h('td', { dataset: { label: 'Endpoint' } }, h('code', { class: 'wrap', text: url || '—' })))))));
}

function settingsCard(view) {
  const ttl = h('input', { type: 'number', name: 'messageTtl', min: 5, max: 120, step: 1, required: true, inputMode: 'numeric',
    value: String(view.channel.SingleMasterConfiguration?.MessageTtlSeconds ?? 60) });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Save TTL' });
  const form = h('form', { class: 'inline-form', id: 'ttl-form' },
    field('Message TTL (seconds)', ttl, '5 to 120. Applies to messages sent from now on.'), save);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(save, 'Saving…', () => saveTtl(view, Number(ttl.value)));
  });
  return h('section', { class: 'card', 'aria-labelledby': 'settings-h' }, h('h2', { id: 'settings-h', text: 'Settings' }), form);
}

async function saveTtl(view, seconds) {
  const { app, channel } = view;
  try {
    await app.kvs.updateChannel({ arn: channel.ChannelARN, version: channel.Version, ttlSeconds: seconds });
    await reload(view);
    showBanner({ id: 'saved', kind: 'success', title: `Message TTL is now ${seconds} seconds.` });
  } catch (err) {
    app.fail(err, 'Could not save the TTL');
    if (err.name === 'VersionMismatchException') await reload(view);
  }
}

function tagsCard(view, tags) {
  const current = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  const editor = tagEditor(current, { hideLegend: true });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Save tags' });
  const form = h('form', { class: 'stack', id: 'tags-form' }, editor.el, h('div', {}, save));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(save, 'Saving…', () => saveTags(view, tags, editor));
  });
  return h('section', { class: 'card', 'aria-labelledby': 'tags-h' }, h('h2', { id: 'tags-h', text: 'Tags' }), form);
}

// Sends only the difference: new and changed tags to TagResource, removed
// keys to UntagResource. TagResource goes first whenever the channel can
// hold the old and the new tags together (at most 50), so a failure of it
// leaves the channel as it was; only when that would exceed the limit must
// the removals make room first. If the first call succeeds and the second
// fails, the banner says what was applied and what was not, and the editor
// is reloaded to show the channel's tags as they now are.
async function saveTags(view, before, editor) {
  const { app, channel } = view;
  let wanted;
  try {
    wanted = editor.read();
  } catch (err) {
    app.fail(err, 'Could not save the tags');
    return;
  }
  const had = new Map(Object.entries(before));
  const keep = new Set(wanted.map((t) => t.Key));
  const removed = [...had.keys()].filter((k) => !keep.has(k));
  const changed = wanted.filter((t) => had.get(t.Key) !== t.Value);
  const added = changed.filter((t) => !had.has(t.Key)).length;
  const set = { name: 'set', run: () => app.kvs.tagResource(channel.ChannelARN, changed), keys: changed.map((t) => t.Key) };
  const remove = { name: 'remove', run: () => app.kvs.untagResource(channel.ChannelARN, removed), keys: removed };
  const steps = (had.size + added <= MAX_TAGS ? [set, remove] : [remove, set]).filter((s) => s.keys.length);
  const done = [];
  for (const step of steps) {
    try {
      await step.run();
    } catch (err) {
      if (done.length) await partlySaved(view, done[0], step, err);
      else app.fail(err, 'Could not save the tags');
      return;
    }
    done.push(step);
  }
  try {
    await reload(view);
  } catch (err) {
    app.fail(err, 'Tags saved, but the channel could not be reloaded');
    return;
  }
  showBanner({ id: 'saved', kind: 'success', title: 'Tags saved.', text: `${changed.length} set, ${removed.length} removed.` });
}

const quoteKeys = (keys) => keys.map((k) => `“${k}”`).join(', ');

async function partlySaved(view, done, failed, err) {
  const { title, text } = describeError(err, failed.name === 'set' ? 'Setting tags failed' : 'Removing tags failed');
  const applied = done.name === 'set' ? `Set: ${quoteKeys(done.keys)}.` : `Removed: ${quoteKeys(done.keys)}.`;
  const missed = failed.name === 'set'
    ? `Not set: ${quoteKeys(failed.keys)}.`
    : `Not removed, still on the channel: ${quoteKeys(failed.keys)}.`;
  showBanner({ id: 'tags-partly-saved', kind: 'error', title: 'Tags only partly saved', text: `${applied} ${missed} ${title}. ${text}` });
  try {
    await reload(view);
  } catch { /* the banner above already says what state the tags are in */ }
}

async function reload(view) {
  view.channel = await view.app.kvs.describeChannel({ arn: view.channel.ChannelARN });
  await draw(view);
}

async function deleteChannel(view, button) {
  const { app, channel } = view;
  const ok = await confirmDialog({
    title: `Delete ${channel.ChannelName}?`,
    text: 'The master and viewers connected to it are disconnected, and its ARN stops working. This cannot be undone.',
    confirmLabel: 'Delete channel',
    danger: true,
  });
  if (!ok) return button.focus();
  try {
    await app.kvs.deleteChannel({ arn: channel.ChannelARN, version: channel.Version });
    await app.navigate('/console/channels');
    showBanner({ id: 'deleted', kind: 'success', title: `Channel ${channel.ChannelName} was deleted.` });
  } catch (err) {
    app.fail(err, 'Could not delete the channel');
  }
  return undefined;
}
