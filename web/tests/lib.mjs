// Test support: free ports, starting and stopping startserv (and startgate), launching
// Debian's chromium through playwright-core, and polling the page's DOM.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const STARTSERV = process.env.STARTSERV_BIN || path.join(REPO, 'target/debug/startserv');
export const STARTGATE = process.env.STARTGATE_BIN || path.join(REPO, 'target/debug/startgate');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
}

export function removeDir(dir) {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** A TCP port nothing listens on right now (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls GET url until it answers 200 (or the process dies, or time runs out). */
export async function waitHealthy(url, proc, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${proc.name} exited (code ${proc.exitCode}) before ${url} answered 200\n${proc.tail()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})${proc ? `\n${proc.tail()}` : ''}`);
}

/** Spawns a server binary with its output appended to logFile; returns a handle. */
export function spawnLogged(name, bin, args, logFile, env = {}) {
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: build it first (cargo build, or cargo test --workspace)`);
  fs.appendFileSync(logFile, `\n=== ${new Date().toISOString()} ${bin} ${args.join(' ')} ===\n`);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  fs.closeSync(fd);
  const proc = {
    name,
    child,
    exitCode: null,
    exited: new Promise((resolve) => child.on('exit', (code, signal) => {
      proc.exitCode = code === null ? signal : code;
      resolve(proc.exitCode);
    })),
    tail(lines = 60) {
      try {
        const all = fs.readFileSync(logFile, 'utf8').split('\n');
        return `--- ${name} log (last ${lines} lines of ${logFile}) ---\n${all.slice(-lines).join('\n')}`;
      } catch (e) {
        return `<no log: ${e.message}>`;
      }
    },
    /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
    async stop(graceMs = 15000) {
      if (proc.exitCode !== null) return proc.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => { if (proc.exitCode === null) child.kill('SIGKILL'); }, graceMs);
      const code = await proc.exited;
      clearTimeout(t);
      return code;
    },
  };
  return proc;
}

/**
 * A chat node: `startserv PORT --http-port HPORT --data-dir DIR`, waited on until
 * /healthz answers 200. restart() stops it with SIGTERM and starts it again on the same
 * ports and data dir.
 */
export async function startNode({ dir, port, httpPort, extraArgs = [] } = {}) {
  dir = dir || tempDir('web-node');
  port = port || await freePort();
  httpPort = httpPort || await freePort();
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dir, 'startserv.log');
  const node = {
    dir, port, httpPort, dataDir, logFile, proc: null,
    base: `http://127.0.0.1:${httpPort}/`,
    async start() {
      node.proc = spawnLogged('startserv', STARTSERV, [String(port), '--http-port', String(httpPort), '--data-dir', dataDir, ...extraArgs], logFile);
      await waitHealthy(`http://127.0.0.1:${httpPort}/healthz`, node.proc);
    },
    async stop() {
      if (node.proc) await node.proc.stop();
    },
    async restart() {
      await node.stop();
      await node.start();
    },
    tail(lines) {
      return node.proc ? node.proc.tail(lines) : '';
    },
  };
  await node.start();
  return node;
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run bash tools/browser.sh`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A page in a fresh browser context (its own localStorage: a separate person). */
export async function newPerson(browser, url, { width = 1280, height = 800, log } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  attachLog(page, log);
  await page.goto(url);
  return { context, page };
}

/** Collects console errors and page errors (shown when a test fails). */
export function attachLog(page, log) {
  if (!log) return;
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log.push(`[console.${m.type()}] ${m.text()}`);
  });
}

/** Polls fn() until it returns a truthy value; throws with `what` and the last value. */
export async function until(what, fn, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await sleep(100);
  }
}

/** Waits until the texts of `locator` equal `expected`, then asserts it (clear diff). */
export async function expectTexts(locator, expected, what, timeoutMs = 15000) {
  let texts = [];
  try {
    await until(what, async () => {
      texts = await locator.allTextContents();
      return JSON.stringify(texts) === JSON.stringify(expected);
    }, timeoutMs);
  } catch (_) {
    texts = await locator.allTextContents();
  }
  assert.deepEqual(texts, expected, what);
}

/** Waits until `locator` has exactly `n` matches. */
export async function expectCount(locator, n, what, timeoutMs = 15000) {
  let count = -1;
  try {
    await until(what, async () => (count = await locator.count()) === n, timeoutMs);
  } catch (_) {
    count = await locator.count();
  }
  assert.equal(count, n, what);
}
