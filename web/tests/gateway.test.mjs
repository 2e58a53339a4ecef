// The web client through the gateway: e-mail codes, sign-up, login by username and by
// e-mail, the assigned node's WebSocket, and a password reset that signs the open session
// out. Needs MariaDB (127.0.0.1:3306, root without password) and Redis (127.0.0.1:6379),
// as `make test` provides (tools/services.sh); skipped when they do not answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  STARTSERV, STARTGATE, spawnLogged, waitHealthy, freePort, tempDir, removeDir, launchBrowser,
  newPerson, until, expectTexts,
} from './lib.mjs';
import { searchAndRequest, acceptRequest, openChatWithFriend, openConversation, send, paneTexts, PASSWORD } from './driver.mjs';

const MYSQL_HOST = '127.0.0.1';
const MYSQL_PORT = 3306;
const REDIS_URL = process.env.WEB_TEST_REDIS || 'redis://127.0.0.1:6379/0';

function answers(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, timeout: 1000 });
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
    s.on('timeout', () => { s.destroy(); resolve(false); });
  });
}

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch (_) {
    return null;
  }
}

function sql(statement) {
  const client = which('mariadb') || which('mysql');
  execFileSync(client, [`-h${MYSQL_HOST}`, `-P${MYSQL_PORT}`, '-uroot', '--connect-timeout=5', '-e', statement], { stdio: 'pipe' });
}

function redisCli(...args) {
  return execFileSync('redis-cli', ['-u', REDIS_URL, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** What this test needs and does not have (make test brings MariaDB and Redis up). */
async function missing() {
  if (!fs.existsSync(STARTSERV)) return `${STARTSERV} is missing`;
  if (!fs.existsSync(STARTGATE)) return `${STARTGATE} is missing (cargo build -p gate)`;
  if (!(which('mariadb') || which('mysql'))) return 'no mariadb/mysql client';
  if (!which('redis-cli')) return 'no redis-cli';
  if (!(await answers(MYSQL_PORT))) return `MariaDB does not answer on ${MYSQL_HOST}:${MYSQL_PORT} (bash tools/services.sh)`;
  if (!(await answers(6379))) return 'Redis does not answer on 127.0.0.1:6379 (bash tools/services.sh)';
  return null;
}

/** The 6-digit code of the newest mail to `to` written after `since` (ms). */
function codeFor(mailDir, to, since) {
  if (!fs.existsSync(mailDir)) return null;
  const mails = fs.readdirSync(mailDir)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => path.join(mailDir, f))
    .filter((f) => fs.statSync(f).mtimeMs >= since)
    .map((f) => ({ t: fs.statSync(f).mtimeMs, text: fs.readFileSync(f, 'utf8') }))
    .filter((m) => m.text.split(/\r?\n/).some((l) => /^to:/i.test(l) && l.includes(to)))
    .sort((a, b) => b.t - a.t);
  if (!mails.length) return null;
  const line = mails[0].text.split(/\r?\n/).map((l) => l.trim()).find((l) => /^\d{6}$/.test(l));
  const m = line || (mails[0].text.match(/\b\d{6}\b/) || [])[0];
  return m || null;
}

test('through the gateway: e-mail sign-up, login by name and by address, chat, password reset, a dead node', { timeout: 240000 }, async (t) => {
  const lacking = await missing();
  assert.equal(lacking, null, `the gateway test cannot run: ${lacking}`);
  const dir = tempDir('web-gateway-test');
  const id = crypto.randomBytes(4).toString('hex');
  const db = `web_gw_${id}`;
  const cluster = `webgw${id}`;
  const mysqlUrl = `mysql://root@${MYSQL_HOST}:${MYSQL_PORT}/${db}`;
  const mailDir = path.join(dir, 'gate', 'mail');
  const logs = [];
  let nodeProc;
  let node2Proc;
  let gateProc;
  let browser;
  let failed = true;

  t.after(async () => {
    if (failed) {
      t.diagnostic(`page log:\n${logs.join('\n') || '(empty)'}`);
      if (nodeProc) t.diagnostic(nodeProc.tail(80));
      if (node2Proc) t.diagnostic(node2Proc.tail(80));
      if (gateProc) t.diagnostic(gateProc.tail(80));
    }
    if (browser) await browser.close().catch(() => {});
    if (gateProc) await gateProc.stop().catch(() => {});
    if (nodeProc) await nodeProc.stop().catch(() => {});
    if (node2Proc) await node2Proc.stop().catch(() => {});
    try { sql(`DROP DATABASE IF EXISTS \`${db}\``); } catch (_) { /* best effort */ }
    try {
      const keys = redisCli('--scan', '--pattern', `${cluster}:*`).split('\n').filter(Boolean);
      if (keys.length) redisCli('DEL', ...keys);
    } catch (_) { /* best effort */ }
    removeDir(dir);
  });

  sql(`CREATE DATABASE \`${db}\``);
  const port = await freePort();
  const httpPort = await freePort();
  const gatePort = await freePort();
  fs.mkdirSync(path.join(dir, 'node'), { recursive: true });
  fs.mkdirSync(mailDir, { recursive: true });
  nodeProc = spawnLogged('startserv', STARTSERV, [
    String(port), '--bind', '127.0.0.1', '--http-port', String(httpPort), '--mysql', mysqlUrl, '--redis', REDIS_URL,
    '--cluster', cluster, '--node-id', 'web1', '--advertise', `127.0.0.1:${port}`, '--data-dir', path.join(dir, 'node'),
  ], path.join(dir, 'startserv.log'));
  await waitHealthy(`http://127.0.0.1:${httpPort}/healthz`, nodeProc, 60000);
  gateProc = spawnLogged('startgate', STARTGATE, [
    String(gatePort), '--bind', '127.0.0.1', '--mysql', mysqlUrl, '--redis', REDIS_URL, '--cluster', cluster,
    '--data-dir', path.join(dir, 'gate'), '--mail-dir', mailDir,
  ], path.join(dir, 'startgate.log'));
  await waitHealthy(`http://127.0.0.1:${gatePort}/healthz`, gateProc, 60000);
  await until('the node to register in the cluster', () => redisCli('EXISTS', `${cluster}:node:web1:alive`).trim() === '1', 30000);
  const base = `http://127.0.0.1:${gatePort}/`;
  browser = await launchBrowser();

  const signUp = async (page, { email, username, nickname }) => {
    await page.getByTestId('auth-screen').waitFor();
    await page.getByTestId('show-register').click();
    await page.getByTestId('email-input').fill(email);
    const since = Date.now() - 1000;
    await page.getByTestId('send-code').click();
    const code = await until(`the code mailed to ${email}`, () => codeFor(mailDir, email, since), 20000);
    await page.getByTestId('code-input').fill(code);
    await page.getByTestId('register-username').fill(username);
    await page.getByTestId('register-nickname').fill(nickname);
    await page.getByTestId('register-password').fill(PASSWORD);
    await page.getByTestId('register-submit').click();
    await page.getByTestId('main-screen').waitFor();
  };

  const { page: A } = await newPerson(browser, base, { log: logs });
  const { page: B } = await newPerson(browser, base, { log: logs });
  await A.getByTestId('auth-screen').waitFor();
  assert.equal(await A.getByTestId('login-username').getAttribute('placeholder'), 'Username or e-mail');

  // Sign-up with e-mail codes; each lands on the node the gateway assigned.
  await signUp(A, { email: 'alice@example.com', username: 'alice', nickname: 'Alice 🌸' });
  await signUp(B, { email: 'bob@example.com', username: 'bob', nickname: '王小明' });
  assert.equal(await A.getByTestId('me-name').textContent(), 'Alice 🌸');

  // Friends and a message each way over the node's WebSocket.
  await searchAndRequest(A, 'bob', 'hello from the gateway');
  await acceptRequest(B, 'alice');
  await openChatWithFriend(A, 'bob');
  await send(A, 'via the gateway 🚪');
  await openConversation(B, 'alice');
  await send(B, '收到 👍');
  await expectTexts(paneTexts(A), ['via the gateway 🚪', '收到 👍'], "A's pane");
  await expectTexts(paneTexts(B), ['via the gateway 🚪', '收到 👍'], "B's pane");

  // B signs out and back in with the e-mail address.
  await B.getByTestId('logout').click();
  await B.getByTestId('auth-screen').waitFor();
  await B.getByTestId('login-username').fill('bob@example.com');
  await B.getByTestId('login-password').fill(PASSWORD);
  await B.getByTestId('login-submit').click();
  await B.getByTestId('main-screen').waitFor();
  await openConversation(B, 'alice');
  await expectTexts(paneTexts(B), ['via the gateway 🚪', '收到 👍'], "B's pane after signing in by e-mail");

  // A wrong password is said in plain words.
  const { page: C } = await newPerson(browser, base, { log: logs });
  await C.getByTestId('login-username').fill('alice');
  await C.getByTestId('login-password').fill('not the password');
  await C.getByTestId('login-submit').click();
  await C.getByTestId('auth-error').filter({ hasText: 'Wrong username or password.' }).waitFor();

  // Password reset from another browser: A's open session is signed out with a notice.
  await C.getByTestId('show-reset').click();
  await C.getByTestId('email-input').fill('alice@example.com');
  const since = Date.now() - 1000;
  await C.getByTestId('send-code').click();
  const code = await until('the reset code', () => codeFor(mailDir, 'alice@example.com', since), 20000);
  await C.getByTestId('code-input').fill(code);
  const newPassword = 'a brand new secret 9';
  await C.getByTestId('reset-password').fill(newPassword);
  await C.getByTestId('reset-submit').click();
  await C.getByTestId('auth-info').filter({ hasText: 'Your password was changed' }).waitFor();
  await A.getByTestId('auth-screen').waitFor({ timeout: 15000 });
  await A.getByTestId('auth-info').filter({ hasText: 'password was changed' }).waitFor();

  // The new password works; the conversation is there.
  await C.getByTestId('login-username').fill('alice');
  await C.getByTestId('login-password').fill(newPassword);
  await C.getByTestId('login-submit').click();
  await C.getByTestId('main-screen').waitFor();
  await openConversation(C, 'bob');
  await expectTexts(paneTexts(C), ['via the gateway 🚪', '收到 👍'], "A's pane in the new session");

  // A's node dies for good while a second one runs: after a few failed reconnects the
  // banner offers to sign in again, and that login lands on the live node.
  const port2 = await freePort();
  const httpPort2 = await freePort();
  fs.mkdirSync(path.join(dir, 'node2'), { recursive: true });
  node2Proc = spawnLogged('startserv', STARTSERV, [
    String(port2), '--bind', '127.0.0.1', '--http-port', String(httpPort2), '--mysql', mysqlUrl, '--redis', REDIS_URL,
    '--cluster', cluster, '--node-id', 'web2', '--advertise', `127.0.0.1:${port2}`, '--data-dir', path.join(dir, 'node2'),
  ], path.join(dir, 'startserv2.log'));
  await waitHealthy(`http://127.0.0.1:${httpPort2}/healthz`, node2Proc, 60000);
  await until('the second node to register in the cluster', () => redisCli('EXISTS', `${cluster}:node:web2:alive`).trim() === '1', 30000);
  const dying = nodeProc;
  nodeProc = null;
  await dying.stop();
  await C.getByTestId('conn-banner').waitFor();
  await C.getByTestId('sign-in-again').click({ timeout: 30000 });
  await C.getByTestId('auth-info').filter({ hasText: 'not answering' }).waitFor();
  assert.equal(await C.evaluate(() => localStorage.getItem('chat.session')), null, 'the dead session is forgotten');
  await C.getByTestId('login-username').fill('alice');
  await C.getByTestId('login-password').fill(newPassword);
  await C.getByTestId('login-submit').click();
  await C.getByTestId('main-screen').waitFor();
  assert.equal(await C.evaluate(() => JSON.parse(localStorage.getItem('chat.session')).wsUrl), `ws://127.0.0.1:${httpPort2}/ws`);
  await openConversation(C, 'bob');
  await expectTexts(paneTexts(C), ['via the gateway 🚪', '收到 👍'], "A's pane on the second node");
  assert.deepEqual(logs.filter((l) => l.startsWith('[pageerror]') || /Content Security Policy/i.test(l)), []);
  failed = false;
});
