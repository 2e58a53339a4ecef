// A development stand-in for a chat node: serves web/static, /app-config.json, /healthz and
// an in-memory implementation of the protocol over WebSocket at /ws (pure Node, no
// packages). Not used by run.sh; it lets the client be worked on without the Rust build:
//   node web/tests/mock-server.mjs [PORT]
//   node web/tests/mock-server.mjs TCPPORT --http-port PORT --data-dir DIR   (like startserv;
//   the state is kept in DIR/mock.json, so a restart keeps it)
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const STATIC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../static');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };

// ---- WebSocket framing (RFC 6455, server side) ------------------------------------------
function wsAccept(req, socket) {
  const key = req.headers['sec-websocket-key'];
  const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  const conn = { socket, onText: () => {}, onClose: () => {}, closed: false };
  conn.send = (obj) => {
    if (conn.closed) return;
    const data = Buffer.from(JSON.stringify(obj));
    let head;
    if (data.length < 126) head = Buffer.from([0x81, data.length]);
    else if (data.length < 65536) { head = Buffer.alloc(4); head[0] = 0x81; head[1] = 126; head.writeUInt16BE(data.length, 2); }
    else { head = Buffer.alloc(10); head[0] = 0x81; head[1] = 127; head.writeBigUInt64BE(BigInt(data.length), 2); }
    socket.write(Buffer.concat([head, data]));
  };
  conn.close = () => {
    if (conn.closed) return;
    try { socket.write(Buffer.from([0x88, 0])); } catch (_) { /* ignore */ }
    socket.end();
    gone();
  };
  function gone() {
    if (conn.closed) return;
    conn.closed = true;
    conn.onClose();
  }
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      const masked = buf[1] & 0x80;
      const mask = masked ? buf.subarray(off, off + 4) : null;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      const payload = Buffer.from(buf.subarray(off, off + len));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      buf = buf.subarray(off + len);
      if (op === 1) conn.onText(payload.toString('utf8'));
      else if (op === 8) { conn.close(); return; }
      else if (op === 9) socket.write(Buffer.concat([Buffer.from([0x8a, payload.length]), payload]));
    }
  });
  socket.on('close', gone);
  socket.on('error', gone);
  return conn;
}

// ---- the protocol, in memory ------------------------------------------------------------
const users = []; // {user_id, username, nickname, avatar, password, pos}
const tokens = new Map(); // token -> user_id
const friends = new Map(); // user_id -> Set
const requests = []; // {request_id, from, to, message, ts}
const messages = []; // {msg_id, from, to, text, ts, client_msg_id, posFrom, posTo}
const reads = new Map(); // `${reader}:${peer}` -> up_to
const conns = new Set();
let nextId = 1;

const pub = (u) => ({ user_id: u.user_id, username: u.username, nickname: u.nickname, avatar: u.avatar || '', online: [...conns].some((c) => c.user === u.user_id) });
const byId = (id) => users.find((u) => u.user_id === id);
const fr = (id) => { if (!friends.has(id)) friends.set(id, new Set()); return friends.get(id); };
const view = (m, me) => ({ msg_id: m.msg_id, from: m.from, to: m.to, text: m.text, ts: m.ts, client_msg_id: m.client_msg_id, pos: me === m.from ? m.posFrom : m.posTo });
const push = (uid, obj, except) => { for (const c of conns) if (c.user === uid && c !== except && c.push) c.ws.send(obj); };
const err = (code, message) => ({ ok: false, error: { code, message: message || code } });

function handle(c, req) {
  const t = req.type;
  if (t === 'ping') return { ts: Date.now() };
  if (t === 'register') {
    if (!/^[A-Za-z0-9_.-]{3,32}$/.test(req.username || '')) return err('bad_request', 'field `username` must be 3 to 32 characters of A-Z a-z 0-9 _ . -');
    if (users.some((u) => u.username.toLowerCase() === req.username.toLowerCase())) return err('user_exists');
    const u = { user_id: nextId++, username: req.username, nickname: req.nickname || req.username, password: req.password, pos: 0 };
    users.push(u);
    return { user_id: u.user_id };
  }
  if (t === 'login') {
    if (c.user) return err('bad_request', 'already logged in');
    let u;
    if (req.token) u = byId(tokens.get(req.token));
    else u = users.find((x) => x.username.toLowerCase() === String(req.username).toLowerCase() && x.password === req.password);
    if (!u) return err('invalid_credentials');
    const token = req.token || crypto.randomBytes(16).toString('hex');
    tokens.set(token, u.user_id);
    const wasOnline = [...conns].some((x) => x.user === u.user_id);
    c.user = u.user_id; c.token = token; c.push = req.push !== false;
    if (!wasOnline) for (const f of fr(u.user_id)) push(f, { type: 'presence', user_id: u.user_id, online: true });
    return { user_id: u.user_id, username: u.username, nickname: u.nickname, token, last_pos: u.pos };
  }
  if (!c.user) return err('unauthenticated');
  const me = byId(c.user);
  switch (t) {
    case 'logout': tokens.delete(c.token); c.user = null; return {};
    case 'search_user': {
      const q = String(req.query || '').toLowerCase();
      return { users: users.filter((u) => u.username.toLowerCase().includes(q)).slice(0, 20).map(pub), more: false };
    }
    case 'get_profile': { const u = byId(req.user_id); return u ? { user: pub(u) } : err('no_such_user'); }
    case 'add_friend': {
      const u = byId(req.user_id);
      if (!u) return err('no_such_user');
      if (u === me) return err('bad_request', 'field `user_id` is yourself');
      if (fr(me.user_id).has(u.user_id)) return err('already_friends');
      let r = requests.find((x) => x.from === me.user_id && x.to === u.user_id);
      if (r) return { request_id: r.request_id };
      r = { request_id: nextId++, from: me.user_id, to: u.user_id, message: req.message || '', ts: Date.now() };
      requests.push(r);
      push(u.user_id, { type: 'friend_request', request_id: r.request_id, from: pub(me), message: r.message, ts: r.ts });
      return { request_id: r.request_id };
    }
    case 'friend_requests':
      return { requests: requests.filter((r) => r.to === me.user_id).map((r) => ({ request_id: r.request_id, from: pub(byId(r.from)), message: r.message, ts: r.ts })), more: false };
    case 'accept_friend': {
      const i = requests.findIndex((r) => r.request_id === req.request_id && r.to === me.user_id);
      if (i < 0) return err('no_such_request');
      const r = requests.splice(i, 1)[0];
      fr(r.from).add(r.to); fr(r.to).add(r.from);
      push(r.from, { type: 'friend_accepted', friend: pub(me) });
      return { friend: pub(byId(r.from)) };
    }
    case 'reject_friend': {
      const i = requests.findIndex((r) => r.request_id === req.request_id && r.to === me.user_id);
      if (i < 0) return err('no_such_request');
      requests.splice(i, 1);
      return {};
    }
    case 'friends': return { friends: [...fr(me.user_id)].map((id) => pub(byId(id))), more: false };
    case 'send_message': {
      const to = byId(req.to);
      if (!to) return err('no_such_user');
      if (!fr(me.user_id).has(to.user_id)) return err('not_friends');
      let m = messages.find((x) => x.from === me.user_id && x.client_msg_id === req.client_msg_id);
      if (!m) {
        m = { msg_id: nextId++, from: me.user_id, to: to.user_id, text: req.text, ts: Date.now(), client_msg_id: req.client_msg_id, posFrom: ++me.pos, posTo: ++to.pos };
        messages.push(m);
        push(to.user_id, { type: 'message', ...view(m, to.user_id) });
        push(me.user_id, { type: 'message', ...view(m, me.user_id) }, c);
      }
      return { msg_id: m.msg_id, ts: m.ts, pos: m.posFrom };
    }
    case 'sync': {
      const mine = messages.filter((m) => m.from === me.user_id || m.to === me.user_id).map((m) => view(m, me.user_id)).filter((m) => m.pos > req.after).sort((a, b) => a.pos - b.pos);
      const limit = req.limit || 200;
      return { messages: mine.slice(0, limit), more: mine.length > limit };
    }
    case 'history': {
      const peer = req.peer;
      let list = messages.filter((m) => (m.from === me.user_id && m.to === peer) || (m.from === peer && m.to === me.user_id));
      if (req.before) list = list.filter((m) => m.msg_id < req.before);
      list = list.sort((a, b) => b.msg_id - a.msg_id);
      const limit = req.limit || 50;
      return { messages: list.slice(0, limit).map((m) => view(m, me.user_id)), more: list.length > limit };
    }
    case 'conversations': {
      const peers = new Map();
      for (const m of messages) {
        if (m.from !== me.user_id && m.to !== me.user_id) continue;
        const p = m.from === me.user_id ? m.to : m.from;
        peers.set(p, m);
      }
      const list = [...peers.entries()].sort((a, b) => b[1].msg_id - a[1].msg_id).map(([p, m]) => ({
        peer: pub(byId(p)), last: view(m, me.user_id),
        unread: messages.filter((x) => x.from === p && x.to === me.user_id && x.msg_id > (reads.get(`${me.user_id}:${p}`) || 0)).length,
      }));
      return { conversations: list, more: false };
    }
    case 'read': {
      if (!byId(req.peer)) return err('no_such_user');
      if (!fr(me.user_id).has(req.peer)) return err('not_friends');
      const k = `${me.user_id}:${req.peer}`;
      if ((reads.get(k) || 0) < req.up_to) {
        reads.set(k, req.up_to);
        push(req.peer, { type: 'read', by: me.user_id, up_to: req.up_to });
      }
      return {};
    }
    default: return err('unknown_type');
  }
}

let downUntil = 0;
const argv = process.argv.slice(2);
const flag = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : null; };
const port = Number(flag('--http-port') || argv[0] || 8099);
const dataDir = flag('--data-dir');
const stateFile = dataDir ? path.join(dataDir, 'mock.json') : null;
if (stateFile && fs.existsSync(stateFile)) {
  const st = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  users.push(...st.users); requests.push(...st.requests); messages.push(...st.messages);
  for (const [k, v] of st.tokens) tokens.set(k, v);
  for (const [k, v] of st.friends) friends.set(k, new Set(v));
  for (const [k, v] of st.reads) reads.set(k, v);
  nextId = st.nextId;
}
function save() {
  if (!stateFile) return;
  fs.writeFileSync(stateFile, JSON.stringify({ users, requests, messages, nextId, tokens: [...tokens], friends: [...friends].map(([k, v]) => [k, [...v]]), reads: [...reads] }));
}
process.on('SIGTERM', () => { save(); for (const c of [...conns]) c.ws.close(); process.exit(0); });
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/_drop') {
    // Simulates a restart: drops every connection and refuses new ones for `ms`.
    downUntil = Date.now() + Number(url.searchParams.get('ms') || 2000);
    for (const c of [...conns]) c.ws.close();
    res.writeHead(200); return res.end('dropped');
  }
  if (url.pathname === '/healthz') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end('{"ok":true}'); }
  if (url.pathname === '/app-config.json') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end('{"mode":"node"}'); }
  const rel = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
  const file = path.resolve(STATIC, rel);
  if (!file.startsWith(STATIC) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) { res.writeHead(404); return res.end('not found'); }
  res.writeHead(200, {
    'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
    'cache-control': 'no-cache',
    // The same policy the Rust servers send (web/src/lib.rs).
    'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss: http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  });
  fs.createReadStream(file).pipe(res);
});
server.on('upgrade', (req, socket) => {
  if (!req.url.startsWith('/ws') || Date.now() < downUntil) return socket.destroy();
  const ws = wsAccept(req, socket);
  const c = { ws, user: null, push: true };
  conns.add(c);
  ws.onText = (text) => {
    let req;
    try { req = JSON.parse(text); } catch (_) { return ws.send({ type: 'error', ok: false, error: { code: 'bad_json', message: 'bad json' } }); }
    const delay = req.type === 'send_message' ? Number(process.env.MOCK_SEND_DELAY_MS || 0) : 0;
    const answer = () => {
      const r = handle(c, req);
      save();
      const out = r.ok === false ? { type: req.type, seq: req.seq, ...r } : { type: req.type, seq: req.seq, ok: true, ...r };
      ws.send(out);
    };
    if (delay) setTimeout(answer, delay); else answer();
  };
  ws.onClose = () => {
    conns.delete(c);
    if (c.user && ![...conns].some((x) => x.user === c.user)) for (const f of fr(c.user)) push(f, { type: 'presence', user_id: c.user, online: false });
  };
});
server.listen(port, '127.0.0.1', () => console.log(`mock server on http://127.0.0.1:${port}/`));
