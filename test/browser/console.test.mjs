// The web console in headless Chromium against the real server: sign in,
// manage a channel, stream video from a master tab to a viewer tab (and,
// forced through the embedded TURN relay, a second time), talk over the
// data channel, edit and delete, and the error banners a person relies on.
// Every console error and uncaught exception in any tab fails the test
// unless the step expects it.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { switchboardBinary, serveFlags, startServer, leafSpkiHash } from './lib/server.mjs';
import { launch, ErrorLog, screenshot } from './lib/browser.mjs';

const REGION = 'us-west-2';
const ACCOUNT = '111122223333';
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
// What Chromium logs when a fetch() is answered with an error status.
const HTTP_403 = /Failed to load resource: the server responded with a status of 403/;
const HTTP_404 = /Failed to load resource: the server responded with a status of 404/;
const MIN_FRAMES = 30;

let bin;
let flags;

before(async () => {
  bin = await switchboardBinary();
  flags = await serveFlags(bin);
});

// The embedded TURN relay on loopback ports the system chooses (so runs
// never fight over 3478), advertising 127.0.0.1, with loopback peers
// allowed for the relay run; the flag names are those of `serve -h`. An
// older server without TURN flags gets none.
function turnArgs({ relay = false } = {}) {
  if (!flags.has('turn-udp-addr')) return [];
  const args = ['--turn-udp-addr=127.0.0.1:0'];
  if (flags.has('turn-tcp-addr')) args.push('--turn-tcp-addr=127.0.0.1:0');
  if (flags.has('turn-tls-addr')) args.push('--turn-tls-addr=127.0.0.1:0');
  const relayIP = ['relay-ip', 'turn-relay-ip'].find((f) => flags.has(f));
  if (relayIP) args.push(`--${relayIP}=127.0.0.1`);
  if (relay && flags.has('turn-allow-peer')) args.push('--turn-allow-peer=127.0.0.0/8');
  return args;
}

function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Waits until a stats panel reports more than min decoded frames. */
async function waitFrames(page, selector, min, server) {
  try {
    await page.waitForFunction(([sel, n]) => Number(document.querySelector(sel)?.dataset.framesDecoded || 0) > n,
      [selector, min], { timeout: 30_000, polling: 250 });
  } catch (err) {
    const log = await page.locator('#signaling-log').innerText().catch(() => '(no log)');
    const banner = await page.locator('.banner').allInnerTexts().catch(() => []);
    throw new Error(`${err.message}\nbanners: ${banner.join(' | ')}\nsignaling log:\n${log}\nserver output (end):\n${server.output().slice(-3000)}`);
  }
}

/** The data-* summary a stats panel keeps of its latest sample. */
function statsOf(page, selector) {
  return page.locator(selector).evaluate((el) => ({ ...el.dataset }));
}

/** Form controls without a label a screen reader could announce. */
function unlabelled(page) {
  return page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map((el) => el.name || el.outerHTML.slice(0, 80)));
}

/** Waits until every row of the channel list shows its live counts. */
function liveCountsShown(page) {
  return page.waitForFunction(() => [...document.querySelectorAll('#channel-table [data-live]')].every((td) => td.textContent !== '…'));
}

/** How far the page is wider than the window (0 when nothing scrolls sideways). */
function sidewaysOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

/**
 * Calls one method of the console's own signed client in the page, signed
 * with the key pair the page signed in with. (The page's CSP forbids
 * eval, so the method is named rather than passed as code.)
 */
function callKvs(page, method, ...args) {
  return page.evaluate(async ([m, a]) => {
    const { KvsClient } = await import('/console/assets/js/kvs.js');
    const { region } = await (await fetch('/console/config.json')).json();
    const credentials = JSON.parse(sessionStorage.getItem('switchboard.credentials'));
    return new KvsClient({ endpoint: location.origin, region, credentials })[m](...a);
  }, [method, args]);
}

/** The channel's tags as the server holds them, {key: value}. */
async function serverTags(page, name) {
  const { ChannelARN } = await callKvs(page, 'describeChannel', { name });
  return callKvs(page, 'listTags', ChannelARN);
}

/** Records the page's TagResource and UntagResource calls, in order, as [operation, tags or keys]. */
function recordTagCalls(page) {
  const calls = [];
  page.on('request', (r) => {
    const op = new URL(r.url()).pathname.slice(1);
    if (r.method() !== 'POST' || !['TagResource', 'UntagResource'].includes(op)) return;
    const body = r.postDataJSON();
    calls.push([op, op === 'TagResource' ? body.Tags : body.TagKeyList]);
  });
  return calls;
}

/** Makes the page's next calls to operation fail with a 500 InternalFailure; returns the undo. */
async function failOperation(page, operation) {
  const pattern = new RegExp(`/${operation}$`);
  const handler = (route) => route.fulfill({
    status: 500, contentType: 'application/json', headers: { 'x-amzn-ErrorType': 'InternalFailure' },
    body: JSON.stringify({ message: `${operation} failed on purpose` }),
  });
  await page.route(pattern, handler);
  return () => page.unroute(pattern, handler);
}

/** The tag rows of the channel page as [key, value] pairs, in order. */
function tagRows(page) {
  return page.locator('#tags-form .tag-row').evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('input')].map((i) => i.value)));
}

describe('console on a server with configured keys', { timeout: 150_000 }, () => {
  const name = uniqueName('console-e2e');
  let server;
  let browser;
  let context;
  let main; // the first tab: sign-in, list and channel pages
  let master;
  let viewer;
  const errors = new ErrorLog();

  before(async () => {
    server = await startServer({
      bin,
      env: { SWITCHBOARD_ACCESS_KEY_ID: KEY_ID, SWITCHBOARD_SECRET_ACCESS_KEY: SECRET },
      args: ['--region', REGION, '--account-id', ACCOUNT, ...turnArgs()],
    });
    browser = await launch(await leafSpkiHash(server));
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    main = errors.watch(await context.newPage(), 'main tab');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('a wrong secret is refused with a clear banner; sign-in works from the keyboard', async () => {
    await main.goto(`${server.url}/`);
    await main.waitForURL(/\/console\/signin$/);
    assert.equal(await main.locator('#dev-login').count(), 0, 'configured keys must not be offered by one-click sign-in');
    assert.deepEqual(await unlabelled(main), []);

    errors.allow(main, HTTP_403); // the refused ListSignalingChannels
    await main.locator('input[name=accessKeyId]').waitFor();
    assert.equal(await main.evaluate(() => document.activeElement.name), 'accessKeyId', 'the key field has the focus');
    await main.keyboard.type(KEY_ID);
    await main.keyboard.press('Tab');
    const outline = await main.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.equal(outline, 'solid', 'keyboard focus must be visible');
    await main.keyboard.type('wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET');
    await main.keyboard.press('Enter');
    const banner = main.locator('.banner-error');
    await banner.waitFor();
    const text = await banner.innerText();
    assert.match(text, /Sign-in failed: InvalidSignatureException/);
    assert.match(text, /secret access key does not match the access key ID/);
    await screenshot(main, 'signin-wrong-secret');

    await main.fill('input[name=secretAccessKey]', SECRET);
    await main.keyboard.press('Enter');
    await main.waitForURL(/\/console\/channels$/);
    await main.locator('#channel-table').waitFor();
    assert.equal(await main.locator('.banner-error').count(), 0);
    assert.match(await main.locator('#account-key').innerText(), /^AKIA…MPLE$/);
    assert.deepEqual(errors.unexpected(), []);
  });

  test('create a channel with a TTL and tags; list, search and paging', async () => {
    await main.focus('#create-channel');
    await main.keyboard.press('Enter');
    const dialog = main.locator('dialog[open]');
    await dialog.waitFor();
    assert.deepEqual(await unlabelled(main), []);
    await main.keyboard.type(name); // the name field has the focus
    await dialog.locator('input[name=messageTtl]').fill('30');
    for (const [key, value] of [['env', 'ci'], ['team', 'video']]) {
      await dialog.getByRole('button', { name: 'Add tag' }).click();
      await dialog.locator('input[name=tagKey]').last().fill(key);
      await dialog.locator('input[name=tagValue]').last().fill(value);
    }
    await dialog.getByRole('button', { name: 'Create channel' }).click();
    await main.waitForURL(new RegExp(`/console/channels/${name}$`));

    const arn = await main.locator('[data-field=arn]').innerText();
    assert.match(arn, new RegExp(`^arn:aws:kinesisvideo:${REGION}:${ACCOUNT}:channel/${name}/\\d+$`));
    assert.equal(await main.locator('[data-field=ttl]').innerText(), '30 seconds');
    assert.deepEqual(await main.locator('#tags-form input[name=tagKey]').evaluateAll((els) => els.map((e) => e.value)), ['env', 'team']);
    assert.match(await main.locator('#ep-h + p + table').innerText(), new RegExp(`wss://${server.addr.replace(/[.[\]]/g, '\\$&')}`));
    await screenshot(main, 'channel-details');

    // Eleven more channels through the console's own signed client, to page through.
    await main.evaluate(async ({ region, accessKeyId, secretAccessKey }) => {
      const { KvsClient } = await import('/console/assets/js/kvs.js');
      const kvs = new KvsClient({ endpoint: location.origin, region, credentials: { accessKeyId, secretAccessKey } });
      for (let i = 0; i < 11; i++) await kvs.createChannel({ name: `paging-${String(i).padStart(2, '0')}`, ttlSeconds: 60 });
    }, { region: REGION, accessKeyId: KEY_ID, secretAccessKey: SECRET });

    await main.getByRole('link', { name: 'Channels', exact: true }).first().click();
    await main.locator('#channel-table tbody tr').first().waitFor();
    await main.fill('input[name=prefix]', 'paging-');
    await main.selectOption('select[name=size]', '10');
    await main.keyboard.press('Enter');
    await main.waitForURL(/prefix=paging-&size=10/);
    const rows = main.locator('#channel-table tbody tr');
    await main.waitForFunction(() => document.querySelectorAll('#channel-table tbody tr').length === 10);
    assert.equal(await rows.first().getAttribute('data-channel'), 'paging-00');
    const next = main.getByRole('button', { name: 'Next' });
    assert.equal(await next.isEnabled(), true);
    await next.click();
    await main.waitForFunction(() => document.querySelectorAll('#channel-table tbody tr').length === 1);
    assert.equal(await rows.first().getAttribute('data-channel'), 'paging-10');
    assert.equal(await next.isEnabled(), false);
    await main.getByRole('button', { name: 'Previous' }).click();
    await main.waitForFunction(() => document.querySelectorAll('#channel-table tbody tr').length === 10);

    await main.fill('input[name=prefix]', name);
    await main.keyboard.press('Enter');
    await main.waitForFunction((n) => {
      const r = document.querySelectorAll('#channel-table tbody tr');
      return r.length === 1 && r[0].dataset.channel === n;
    }, name);
    assert.match(await rows.first().innerText(), /30 s/);

    await main.fill('input[name=prefix]', '');
    await main.selectOption('select[name=size]', '25');
    await main.keyboard.press('Enter');
    await main.waitForFunction(() => document.querySelectorAll('#channel-table tbody tr').length === 12);
    await main.locator(`tr[data-channel="${name}"] [data-live=viewers]`).getByText('0').waitFor();
    await liveCountsShown(main);
    await screenshot(main, 'channel-list');
    assert.deepEqual(errors.unexpected(), []);
  });

  test('a master tab and a viewer tab: video with statistics, data channel both ways', async () => {
    await main.goto(`${server.url}/console/channels/${name}`);
    [master] = await Promise.all([context.waitForEvent('page'), main.click('#open-master')]);
    errors.watch(master, 'master tab');
    await master.locator('#live-form').waitFor(); // the new tab got the key pair from the first one
    assert.deepEqual(await unlabelled(master), []);
    await master.click('#start');
    await master.locator('#session-state').getByText('Waiting for viewers').waitFor();

    [viewer] = await Promise.all([context.waitForEvent('page'), master.getByRole('link', { name: 'Open a viewer in a new tab' }).click()]);
    errors.watch(viewer, 'viewer tab');
    await viewer.locator('#live-form').waitFor();
    await viewer.click('#start');
    await waitFrames(viewer, '#viewer-stats', MIN_FRAMES, server);

    const stats = await statsOf(viewer, '#viewer-stats');
    assert.ok(Number(stats.framesDecoded) > MIN_FRAMES, `frames decoded: ${stats.framesDecoded}`);
    assert.match(stats.localCandidate, /^(host|srflx|prflx|relay)$/);
    assert.match(stats.remoteCandidate, /^(host|srflx|prflx|relay)$/);
    await viewer.locator('[data-stat=firstFrame]').getByText(/^\d+ ms$/).waitFor();
    await viewer.locator('[data-stat=inboundVideo]').getByText(/^\d+ kbit\/s$/).waitFor();
    await viewer.locator('[data-stat=rtt]').getByText(/^\d+ ms$/).waitFor();
    assert.match(await viewer.locator('[data-stat=packetsLost]').innerText(), /^\d+ \(/);
    assert.match(await viewer.locator('#session-state').innerText(), /Connected/);

    // The master lists the viewer, with the viewer's own video decoded.
    const card = master.locator('[data-viewer]');
    await card.locator('.state').getByText('Connected').waitFor();
    await waitFrames(master, '[data-viewer] .stats', 0, server);

    // Live counts on the channel page of the first tab.
    await main.locator('[data-live=master]').getByText('Connected').waitFor();
    await main.locator('[data-live=viewers]').getByText('1', { exact: true }).waitFor();

    await viewer.fill('#message-form input', 'hello from the viewer');
    await viewer.press('#message-form input', 'Enter');
    await master.locator('#messages').getByText('hello from the viewer').waitFor();
    await master.fill('#message-form input', 'hello from the master');
    await master.press('#message-form input', 'Enter');
    await viewer.locator('#messages').getByText('hello from the master').waitFor();

    const log = await viewer.locator('#signaling-log').innerText();
    for (const event of ['SDP_OFFER sent', 'SDP_ANSWER received', 'ICE_CANDIDATE received', 'Data channel open']) {
      assert.ok(log.includes(event), `the viewer's log lacks "${event}"`);
    }
    await screenshot(viewer, 'viewer');
    await screenshot(master, 'master');
    assert.deepEqual(errors.unexpected(), []);
  });

  test('edit the message TTL and the tags', async () => {
    await main.bringToFront();
    const version = await main.locator('[data-field=version]').innerText();
    await main.fill('#ttl-form input', '90');
    await main.click('#ttl-form button[type=submit]');
    await main.locator('.banner-success').getByText('Message TTL is now 90 seconds.').waitFor();
    assert.equal(await main.locator('[data-field=ttl]').innerText(), '90 seconds');
    assert.notEqual(await main.locator('[data-field=version]').innerText(), version, 'an update mints a new version');

    const row = (key) => main.locator('#tags-form .tag-row').filter({ has: main.locator(`input[name=tagKey][value="${key}"]`) });
    await row('env').locator('input[name=tagValue]').fill('staging');
    await row('team').getByRole('button', { name: 'Remove tag team' }).click();
    await main.locator('#tags-form').getByRole('button', { name: 'Add tag' }).click();
    await main.locator('#tags-form input[name=tagKey]').last().fill('owner');
    await main.locator('#tags-form input[name=tagValue]').last().fill('console');
    await main.click('#tags-form button[type=submit]');
    await main.locator('.banner-success').getByText('Tags saved.').waitFor();

    await main.reload();
    await main.locator('#tags-form').waitFor();
    const tags = await main.locator('#tags-form .tag-row').evaluateAll((rows) =>
      rows.map((r) => [...r.querySelectorAll('input')].map((i) => i.value).join('=')));
    assert.deepEqual(tags.sort(), ['env=staging', 'owner=console']);
    assert.equal(await main.locator('[data-field=ttl]').innerText(), '90 seconds');
    assert.deepEqual(errors.unexpected(), []);
  });

  test('delete asks first, and ends the open master and viewer with a banner', async () => {
    await main.click('#delete-channel');
    const dialog = main.locator('dialog[open]');
    await dialog.waitFor();
    assert.equal(await main.evaluate(() => document.activeElement.textContent), 'Cancel', 'the safe choice has the focus');
    await main.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await main.locator('h1').innerText(), name);

    // Once the channel is gone, the open tabs find out with a 404.
    errors.allow(master, HTTP_404);
    errors.allow(viewer, HTTP_404);
    await main.click('#delete-channel');
    await dialog.getByRole('button', { name: 'Delete channel' }).click();
    await main.waitForURL(/\/console\/channels$/);
    await main.locator('.banner-success').getByText(`Channel ${name} was deleted.`).waitFor();
    await main.locator('#channel-table tbody tr').first().waitFor();
    assert.equal(await main.locator(`tr[data-channel="${name}"]`).count(), 0);

    for (const page of [master, viewer]) {
      await page.locator('.banner-error').getByText(`Channel ${name} was deleted while this page was open`).waitFor({ timeout: 20_000 });
      assert.match(await page.locator('#session-state').innerText(), /Stopped/);
    }
    await screenshot(master, 'master-channel-deleted');
    assert.deepEqual(errors.unexpected(), []);
  });

  test('a phone-sized screen: nothing scrolls sideways', async () => {
    for (const page of [main, viewer]) {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(100);
      assert.ok(await sidewaysOverflow(page) <= 0, `${page.url()} is wider than a phone screen`);
    }
    await main.goto(`${server.url}/console/channels/paging-00`);
    await main.locator('#channel-details').waitFor();
    assert.ok(await sidewaysOverflow(main) <= 0, 'the channel page is wider than a phone screen');
    await main.goto(`${server.url}/console/channels`);
    await main.locator('#channel-table tbody tr').first().waitFor();
    assert.ok(await sidewaysOverflow(main) <= 0, 'the channel list is wider than a phone screen');
    await liveCountsShown(main);
    await screenshot(main, 'channel-list-phone', { fullPage: false });
    assert.deepEqual(errors.unexpected(), []);
  });
});

describe('console on a development server with generated keys', { timeout: 180_000 }, () => {
  let server;
  let browser;
  let context;
  let main;
  const errors = new ErrorLog();

  before(async () => {
    server = await startServer({ bin, args: ['--region', REGION, ...turnArgs({ relay: true })] });
    browser = await launch(await leafSpkiHash(server));
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    main = errors.watch(await context.newPage(), 'main tab');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('one click signs in on a loopback development server', async () => {
    await main.goto(`${server.url}/console/`);
    await main.locator('#dev-login').click();
    await main.waitForURL(/\/console\/channels$/);
    await main.locator('#channel-table').waitFor();
    assert.match(await main.locator('#account-key').innerText(), /^SBAK…/);
    assert.deepEqual(errors.unexpected(), []);
  });

  test('relay only: the video goes through the embedded TURN relay', async () => {
    assert.ok(flags.has('turn-udp-addr'),
      'The server has no embedded TURN relay yet: `switchboard serve -h` lists no --turn-udp-addr flag, ' +
      'so a relay-only session cannot connect. This test passes once TURN is wired into `serve`.');
    const name = uniqueName('relay');
    await main.click('#create-channel');
    await main.fill('dialog input[name=channelName]', name);
    await main.locator('dialog[open]').getByRole('button', { name: 'Create channel' }).click();
    await main.waitForURL(new RegExp(`/console/channels/${name}$`));

    const master = errors.watch(await context.newPage(), 'relay master tab');
    await master.goto(`${server.url}/console/channels/${name}/master`);
    await master.check('input[name=relayOnly]');
    await master.click('#start');
    await master.locator('#session-state').getByText('Waiting for viewers').waitFor();

    const viewer = errors.watch(await context.newPage(), 'relay viewer tab');
    await viewer.goto(`${server.url}/console/channels/${name}/viewer`);
    await viewer.check('input[name=relayOnly]');
    await viewer.click('#start');
    await waitFrames(viewer, '#viewer-stats', MIN_FRAMES, server);

    assert.equal((await statsOf(viewer, '#viewer-stats')).localCandidate, 'relay', 'the viewer must send through the relay');
    await master.waitForFunction(() => document.querySelector('[data-viewer] .stats')?.dataset.localCandidate === 'relay', null, { timeout: 10_000 });
    assert.match(await viewer.locator('[data-stat=localCandidate]').innerText(), /^relay/);
    await screenshot(viewer, 'viewer-relay');
    assert.deepEqual(errors.unexpected(), []);
  });

  test('tags: untouched keys and values keep their spaces; only typed text is trimmed', async () => {
    const name = uniqueName('tag-spaces');
    await callKvs(main, 'createChannel', { name, ttlSeconds: 60, tags: [
      { Key: 'team ', Value: ' video' }, { Key: '   ', Value: 'key of spaces' }, { Key: 'env', Value: 'ci  ' },
    ] });
    const calls = recordTagCalls(main);
    await main.goto(`${server.url}/console/channels/${name}`);
    await main.locator('#tags-form .tag-row').nth(2).waitFor();
    await main.locator('#tags-form').getByRole('button', { name: 'Add tag' }).click();
    await main.locator('#tags-form input[name=tagKey]').last().fill('  owner ');
    await main.locator('#tags-form input[name=tagValue]').last().fill(' console ');
    await main.click('#tags-form button[type=submit]');
    const outcome = main.locator('.banner-success, .banner-error').first();
    await outcome.waitFor();
    assert.match(await outcome.innerText(), /^Tags saved\./);

    assert.deepEqual(calls, [['TagResource', [{ Key: 'owner', Value: 'console' }]]], 'only the new tag is sent');
    assert.deepEqual(await serverTags(main, name), { 'team ': ' video', '   ': 'key of spaces', env: 'ci  ', owner: 'console' });
    assert.deepEqual((await tagRows(main)).sort(), [['   ', 'key of spaces'], ['env', 'ci  '], ['owner', 'console'], ['team ', ' video']]);
    assert.deepEqual(errors.unexpected(), []);
  });

  test('tags: TagResource goes before UntagResource, and a half-done save says so', async () => {
    const name = uniqueName('tag-order');
    await callKvs(main, 'createChannel', { name, ttlSeconds: 60, tags: [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }] });
    const calls = recordTagCalls(main);
    errors.allow(main, /Failed to load resource: the server responded with a status of 500/);
    await main.goto(`${server.url}/console/channels/${name}`);
    await main.locator('#tags-form .tag-row').nth(1).waitFor();
    const row = (key) => main.locator('#tags-form .tag-row').filter({ has: main.locator(`input[name=tagKey][value="${key}"]`) });
    await row('a').locator('input[name=tagValue]').fill('changed');
    await row('b').getByRole('button', { name: 'Remove tag b', exact: true }).click();

    // TagResource fails first: nothing was removed.
    let undo = await failOperation(main, 'TagResource');
    await main.click('#tags-form button[type=submit]');
    await main.locator('.banner-error').getByText('Could not save the tags: InternalFailure').waitFor();
    await undo();
    assert.deepEqual(calls, [['TagResource', [{ Key: 'a', Value: 'changed' }]]]);
    assert.deepEqual(await serverTags(main, name), { a: '1', b: '2' }, 'a failed save must leave the tags as they were');

    // TagResource succeeds and UntagResource fails: the banner says which half is applied.
    calls.length = 0;
    undo = await failOperation(main, 'UntagResource');
    await main.click('#tags-form button[type=submit]');
    const banner = main.locator('.banner-error').filter({ hasText: 'Tags only partly saved' });
    await banner.waitFor();
    await undo();
    const text = await banner.innerText();
    assert.match(text, /Set: “a”\./);
    assert.match(text, /Not removed, still on the channel: “b”\./);
    assert.match(text, /UntagResource failed on purpose/);
    assert.deepEqual(calls, [['TagResource', [{ Key: 'a', Value: 'changed' }]], ['UntagResource', ['b']]]);
    assert.deepEqual(await serverTags(main, name), { a: 'changed', b: '2' });
    await main.waitForFunction(() => [...document.querySelectorAll('#tags-form input[name=tagValue]')].some((i) => i.value === 'changed' && i.defaultValue === 'changed'));
    assert.deepEqual((await tagRows(main)).sort(), [['a', 'changed'], ['b', '2']], 'the editor shows the tags as they now are');
    assert.deepEqual(errors.unexpected(), []);
  });

  test('tags: with 50 tags, the removal makes room before the new tag is set', async () => {
    const name = uniqueName('tag-full');
    const fifty = Array.from({ length: 50 }, (_, i) => ({ Key: `k${String(i).padStart(2, '0')}`, Value: 'v' }));
    await callKvs(main, 'createChannel', { name, ttlSeconds: 60, tags: fifty });
    const calls = recordTagCalls(main);
    await main.goto(`${server.url}/console/channels/${name}`);
    await main.locator('#tags-form .tag-row').nth(49).waitFor();
    await main.locator('#tags-form').getByRole('button', { name: 'Remove tag k00', exact: true }).click();
    await main.locator('#tags-form').getByRole('button', { name: 'Add tag' }).click();
    await main.locator('#tags-form input[name=tagKey]').last().fill('new');
    await main.locator('#tags-form input[name=tagValue]').last().fill('1');
    await main.click('#tags-form button[type=submit]');
    await main.locator('.banner-success').getByText('Tags saved.').waitFor();
    assert.deepEqual(calls, [['UntagResource', ['k00']], ['TagResource', [{ Key: 'new', Value: '1' }]]]);
    const tags = await serverTags(main, name);
    assert.equal(Object.keys(tags).length, 50);
    assert.equal(tags.new, '1');
    assert.equal(tags.k00, undefined);
    assert.deepEqual(errors.unexpected(), []);
  });

  test('the data-channel message list keeps the newest 400', async () => {
    const kept = await main.evaluate(async () => {
      const { messagesPanel } = await import('/console/assets/js/views/panels.js');
      const panel = messagesPanel(() => true, '');
      for (let i = 0; i < 450; i++) panel.add('peer', `message ${i}`);
      return [...panel.el.querySelectorAll('#messages li .msg-text')].map((el) => el.textContent);
    });
    assert.equal(kept.length, 400);
    assert.equal(kept[0], 'message 50');
    assert.equal(kept.at(-1), 'message 449');
  });

  // The server advertises its endpoints on 127.0.0.1 (where it listens);
  // the console opened as https://localhost must still be allowed to
  // reach them (GetIceServerConfig and the WebSocket) by its CSP.
  test('opened under another host name than the advertised one, a session still starts', async () => {
    const port = new URL(server.url).port;
    const other = errors.watch(await context.newPage(), 'localhost tab');
    await other.goto(`https://localhost:${port}/console/`);
    await other.locator('#dev-login').click();
    await other.waitForURL(/\/console\/channels$/);
    const name = uniqueName('alt-host');
    await other.click('#create-channel');
    await other.fill('dialog input[name=channelName]', name);
    await other.locator('dialog[open]').getByRole('button', { name: 'Create channel' }).click();
    await other.waitForURL(new RegExp(`/console/channels/${name}$`));
    assert.match(await other.locator('#ep-h + p + table').innerText(), new RegExp(`wss://${server.addr.replace(/[.[\]]/g, '\\$&')}`));

    await other.goto(`https://localhost:${port}/console/channels/${name}/master`);
    await other.click('#start');
    const waiting = other.locator('#session-state').getByText('Waiting for viewers');
    await Promise.race([waiting.waitFor({ timeout: 20_000 }), other.locator('.banner-error').waitFor({ timeout: 20_000 })]);
    assert.deepEqual(await other.locator('.banner-error').allInnerTexts(), []);
    await waiting.waitFor();
    assert.deepEqual(errors.unexpected(), []);
    await other.close();
  });
});
