// Starts the real switchboard binary for a test: a fresh data directory, a
// free loopback port (--addr 127.0.0.1:0, read back from the "listening on"
// line of the banner, as test/e2e does), and a wait for /readyz.

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import https from 'node:https';

const run = promisify(execFile);

/** The repository root (this file is test/browser/lib/server.mjs). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The binary to test: $SBDEV_BIN, or one built now into a temporary directory. */
export async function switchboardBinary() {
  if (process.env.SBDEV_BIN) return process.env.SBDEV_BIN;
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-bin-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'switchboard');
  await run('go', ['build', '-o', bin, './cmd/switchboard'], { cwd: repoRoot, maxBuffer: 1 << 24 });
  return bin;
}

/** The flags `switchboard serve` knows, read from its -h output. */
export async function serveFlags(bin) {
  const out = await run(bin, ['serve', '-h']).catch((err) => err); // -h exits 0, but be lenient
  const text = `${out.stdout || ''}${out.stderr || ''}`;
  return new Set([...text.matchAll(/^\s+--?([a-z0-9-]+)/gm)].map((m) => m[1]));
}

// The server must not pick up settings from the environment running the
// tests: every SWITCHBOARD_* variable is dropped, then the test's own set.
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SWITCHBOARD_')) env[k] = v;
  return { ...env, SWITCHBOARD_LOG_LEVEL: 'debug', ...extra };
}

/**
 * Starts a server. Returns {url, addr, dataDir, caFile, output(), stop()}.
 * @param {{bin:string, env?:object, args?:string[]}} opts
 */
export async function startServer({ bin, env = {}, args = [] }) {
  const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-browser-'));
  const child = spawn(bin, ['serve', '--addr', '127.0.0.1:0', '--data-dir', dataDir, ...args],
    { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const addr = await new Promise((resolveAddr, reject) => {
    const timer = setTimeout(() => reject(new Error(`switchboard did not print its address within 60s:\n${output}`)), 60_000);
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(/listening on ([0-9.:[\]a-f]+)\)/);
      if (m) { clearTimeout(timer); resolveAddr(m[1]); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => { output += chunk; });
    exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`switchboard exited (${code}) before serving:\n${output}`)); });
  });
  const server = {
    addr,
    url: `https://${addr}`,
    dataDir,
    caFile: join(dataDir, 'tls', 'ca.pem'),
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  await waitReady(server);
  return server;
}

// Polls /readyz, trusting the server's development CA.
async function waitReady(server) {
  const ca = await readFile(server.caFile);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const status = await new Promise((done) => {
      https.get(`${server.url}/readyz`, { ca }, (res) => { res.resume(); done(res.statusCode); }).on('error', () => done(0));
    });
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`switchboard never became ready:\n${server.output()}`);
}

/** The server certificate's SPKI hash (base64 SHA-256), as Chromium's pin list wants it. */
export async function leafSpkiHash(server) {
  const { X509Certificate, createHash } = await import('node:crypto');
  const pem = await readFile(join(server.dataDir, 'tls', 'server.pem'), 'utf8');
  const leaf = new X509Certificate(pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)[0]);
  const spki = leaf.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
