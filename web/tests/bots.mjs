// Scripted people: protocol clients that run inside one browser page and stay connected
// there (Node 20 has no WebSocket of its own). Used to set the scene around the person the
// test drives through the UI.
import { PASSWORD } from './driver.mjs';

const BOT_LIB = `
window.__bots = {};
window.__bot = async function (wsUrl, username, nickname, password) {
  const ws = new WebSocket(wsUrl);
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('ws failed')); });
  let seq = 0; const waiting = new Map();
  ws.onmessage = (ev) => { const m = JSON.parse(ev.data); if ('ok' in m && waiting.has(m.seq)) { waiting.get(m.seq)(m); waiting.delete(m.seq); } };
  const call = (type, fields) => new Promise((res) => { const s = ++seq; waiting.set(s, res); ws.send(JSON.stringify({ ...fields, type, seq: s })); });
  // Password work is rate limited per address: wait as told and try again.
  const retrying = async (type, fields) => {
    for (;;) {
      const r = await call(type, fields);
      if (!r.ok && (r.error.code === 'rate_limited' || r.error.code === 'server_busy')) { await new Promise((s) => setTimeout(s, (r.error.retry_after_ms || 500) + 50)); continue; }
      return r;
    }
  };
  const reg = await retrying('register', { username, password, nickname });
  if (!reg.ok) throw new Error('register ' + username + ': ' + JSON.stringify(reg.error));
  const login = await retrying('login', { username, password });
  if (!login.ok) throw new Error('login ' + username + ': ' + JSON.stringify(login.error));
  window.__bots[username] = { ws, call, user_id: login.user_id };
  return login.user_id;
};
window.__do = async function (username, type, fields) {
  const r = await window.__bots[username].call(type, fields);
  if (!r.ok) throw new Error(type + ': ' + JSON.stringify(r.error));
  return r;
};
window.__close = function (username) { window.__bots[username].ws.close(); };
`;

/** A page holding bots for the node at `base` (http://host:port/). */
export async function botHost(browser, base) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}favicon.svg`);
  await page.evaluate(BOT_LIB);
  const wsUrl = `${base.replace(/^http/, 'ws')}ws`;
  return {
    page,
    /** Registers and logs in `username`; returns the user id. */
    add: (username, nickname) => page.evaluate(([w, u, n, p]) => window.__bot(w, u, n, p), [wsUrl, username, nickname, PASSWORD]),
    /** One request as `username`; resolves with the ok response, throws on an error. */
    call: (username, type, fields = {}) => page.evaluate(([u, t, f]) => window.__do(u, t, f), [username, type, fields]),
    /** Closes the bot's connection. */
    close: (username) => page.evaluate((u) => window.__close(u), username),
    userId: (username) => page.evaluate((u) => window.__bots[u].user_id, username),
  };
}
