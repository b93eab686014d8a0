// Headless Chromium (Debian's package) driven by playwright-core, with a
// fake camera and microphone, trusting exactly one server's certificate,
// and a record of every console error and page error of every page.

import { mkdir, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { repoRoot } from './server.mjs';

/** Where screenshots go: the CI artifact folder (gitignored). */
export const artifactDir = join(repoRoot, 'ci-artifacts', 'console');
/** The copies the README shows, refreshed when UPDATE_DOCS_SCREENSHOTS=1. */
export const docsDir = join(repoRoot, 'docs', 'screenshots');
const DOCS_SHOTS = new Set(['channel-list', 'channel-list-phone', 'channel-details', 'master', 'viewer', 'viewer-relay']);

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Launches Chromium for one server. Chromium takes no CA file on its
 * command line, so instead of trusting the development CA it is told to
 * accept the one certificate whose public key hashes to spkiHash
 * (--ignore-certificate-errors-spki-list): narrower than ignoring
 * certificate errors altogether, and it covers fetch() and WebSockets
 * alike.
 */
export async function launch(spkiHash) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      `--ignore-certificate-errors-spki-list=${spkiHash}`,
    ],
  });
}

/**
 * Collects console errors and uncaught exceptions of every page of a
 * context. allow(page, regexp) accepts an error on one page from then on
 * (for example the 403 a wrong secret is meant to cause);
 * unexpected() lists the others.
 */
export class ErrorLog {
  constructor() {
    this.entries = [];
    this.allowed = new Map();
  }

  watch(page, label) {
    page.on('console', (m) => {
      if (m.type() === 'error') this.entries.push({ page, label, text: m.text() });
    });
    page.on('pageerror', (e) => this.entries.push({ page, label, text: `uncaught: ${e.message}` }));
    return page;
  }

  allow(page, pattern) {
    if (!this.allowed.has(page)) this.allowed.set(page, []);
    this.allowed.get(page).push(pattern);
  }

  unexpected() {
    return this.entries
      .filter((e) => !(this.allowed.get(e.page) || []).some((re) => re.test(e.text)))
      .map((e) => `${e.label}: ${e.text}`);
  }
}

/** Saves a screenshot (full page unless told) as an artifact, and for the docs when asked. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  await mkdir(artifactDir, { recursive: true });
  const file = join(artifactDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  if (process.env.UPDATE_DOCS_SCREENSHOTS === '1' && DOCS_SHOTS.has(name)) {
    await mkdir(docsDir, { recursive: true });
    await copyFile(file, join(docsDir, `${name}.png`));
  }
  return file;
}
