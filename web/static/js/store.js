// Client state: who I am, users, friends, requests, conversations with their messages,
// pending sends, and the highest timeline position held. Views subscribe to changes.

function lsGet(key) {
  try { return JSON.parse(localStorage.getItem(key)); } catch (_) { return null; }
}
function lsSet(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch (_) { /* full or disabled */ }
}
function ssGet(key) {
  try { return JSON.parse(sessionStorage.getItem(key)); } catch (_) { return null; }
}
function ssSet(key, value) {
  try { sessionStorage.setItem(key, JSON.stringify(value)); } catch (_) { /* full or disabled */ }
}

/** The saved session (token, where to connect, who): localStorage, shared by the tabs. */
export const saved = {
  load() {
    return lsGet('chat.session');
  },
  save(s) {
    lsSet('chat.session', s);
  },
  clear() {
    try { localStorage.removeItem('chat.session'); } catch (_) { /* ignore */ }
  },
};

/** A random client_msg_id (crypto.getRandomValues works outside secure contexts too). */
export function newClientMsgId() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return 'w' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

class Conversation {
  constructor(peerId) {
    this.peerId = peerId;
    this.msgs = new Map(); // msg_id -> message
    this.last = null; // newest message known (from `conversations` or held messages)
    this.unread = 0;
    this.loaded = false; // a first history page was read
    this.loading = false;
    this.more = true; // older messages may exist on the server
    this.readSent = 0; // highest up_to we told the server
    this.sortedCache = null;
  }

  sorted() {
    if (!this.sortedCache) this.sortedCache = [...this.msgs.values()].sort((a, b) => a.msg_id - b.msg_id);
    return this.sortedCache;
  }

  oldestId() {
    const s = this.sorted();
    return s.length ? s[0].msg_id : null;
  }

  /** Highest msg_id of a message from the peer (held, or the list's last). */
  topIncomingId() {
    let top = 0;
    for (const m of this.msgs.values()) if (m.from === this.peerId && m.msg_id > top) top = m.msg_id;
    if (this.last && this.last.from === this.peerId && this.last.msg_id > top) top = this.last.msg_id;
    return top;
  }

  lastActivity(pending) {
    let ts = this.last ? this.last.ts : 0;
    for (const p of pending) if (p.peer === this.peerId && p.ts > ts) ts = p.ts;
    return ts;
  }
}

export class Store {
  constructor() {
    this.listeners = new Set();
    this.dirty = new Set();
    this.flushQueued = false;
    this.reset();
  }

  reset() {
    this.me = null;
    this.users = new Map();
    this.friendIds = new Set();
    this.requests = new Map();
    this.requested = new Set(); // user ids I sent a request to (this session)
    this.convs = new Map();
    this.pending = []; // [{peer, client_msg_id, text, ts, state: 'pending'|'failed', error, inflight}]
    this.maxPos = 0;
    this.activePeer = null;
    this.tab = 'chats';
    this.conn = { state: 'connecting' };
    this.peerRead = {};
    this.loadedLists = false;
    this.changed('all');
  }

  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Marks parts dirty; listeners run once after the current task with the set of parts. */
  changed(...parts) {
    for (const p of parts) this.dirty.add(p);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      const d = this.dirty;
      this.dirty = new Set();
      for (const fn of this.listeners) {
        try { fn(d); } catch (e) { console.error('render failed', e); }
      }
    });
  }

  // ---- me, users -------------------------------------------------------------------

  setMe(me) {
    this.me = { user_id: me.user_id, username: me.username, nickname: me.nickname || me.username };
    this.users.set(me.user_id, { ...(this.users.get(me.user_id) || {}), ...this.me, online: true });
    this.peerRead = lsGet(`chat.peerRead.${me.user_id}`) || {};
    const pend = ssGet(`chat.pending.${me.user_id}`);
    if (Array.isArray(pend) && !this.pending.length) {
      this.pending = pend.map((p) => ({ ...p, inflight: false }));
      for (const p of this.pending) this.conv(p.peer);
    }
    this.changed('me', 'convs', 'chat');
  }

  user(id) {
    return this.users.get(id) || { user_id: id, username: `user${id}`, nickname: '', online: false, placeholder: true };
  }

  upsertUser(u) {
    if (!u || u.user_id == null) return;
    const prev = this.users.get(u.user_id) || {};
    this.users.set(u.user_id, { ...prev, ...u });
    this.changed('friends', 'convs', 'chat', 'search');
  }

  // ---- friends, requests -----------------------------------------------------------

  setFriends(list) {
    this.friendIds = new Set();
    for (const u of list) {
      this.upsertUser(u);
      this.friendIds.add(u.user_id);
    }
    this.changed('friends');
  }

  addFriend(u) {
    this.upsertUser(u);
    this.friendIds.add(u.user_id);
    this.requested.delete(u.user_id);
    for (const [id, r] of this.requests) if (r.from.user_id === u.user_id) this.requests.delete(id);
    this.changed('friends', 'requests', 'chat');
  }

  removeFriend(id) {
    this.friendIds.delete(id);
    this.changed('friends', 'chat');
  }

  isFriend(id) {
    return this.friendIds.has(id);
  }

  setPresence(id, online) {
    const u = this.users.get(id);
    if (u) this.users.set(id, { ...u, online });
    else this.users.set(id, { ...this.user(id), online });
    this.changed('friends', 'convs', 'chat');
  }

  friends() {
    return [...this.friendIds].map((id) => this.user(id));
  }

  setRequests(list) {
    this.requests = new Map();
    for (const r of list) this.addRequest(r);
    this.changed('requests');
  }

  addRequest(r) {
    this.upsertUser(r.from);
    this.requests.set(r.request_id, { request_id: r.request_id, from: r.from, message: r.message || '', ts: r.ts });
    this.changed('requests');
  }

  removeRequest(id) {
    this.requests.delete(id);
    this.changed('requests');
  }

  // ---- conversations, messages -----------------------------------------------------

  conv(peerId) {
    let c = this.convs.get(peerId);
    if (!c) {
      c = new Conversation(peerId);
      this.convs.set(peerId, c);
    }
    return c;
  }

  setConversations(list) {
    for (const item of list) {
      this.upsertUser(item.peer);
      const c = this.conv(item.peer.user_id);
      if (item.last && (!c.last || item.last.msg_id >= c.last.msg_id)) c.last = item.last;
      c.unread = item.unread || 0;
    }
    this.changed('convs');
  }

  /** Conversations with activity, most recent first. */
  sortedConvs() {
    return [...this.convs.values()]
      .filter((c) => c.last || c.peerId === this.activePeer || this.pending.some((p) => p.peer === c.peerId))
      .sort((a, b) => b.lastActivity(this.pending) - a.lastActivity(this.pending) || b.peerId - a.peerId);
  }

  bumpPos(pos) {
    if (typeof pos === 'number' && pos > this.maxPos) this.maxPos = pos;
  }

  peerOf(msg) {
    return this.me && msg.from === this.me.user_id ? msg.to : msg.from;
  }

  /**
   * Adds a message (push, sync, history, ack). Returns true when it was new. A message of
   * mine whose client_msg_id is pending resolves that pending entry (no double).
   */
  addMessage(msg) {
    this.bumpPos(msg.pos);
    const peer = this.peerOf(msg);
    const c = this.conv(peer);
    if (this.me && msg.from === this.me.user_id && msg.client_msg_id) {
      const i = this.pending.findIndex((p) => p.client_msg_id === msg.client_msg_id);
      if (i >= 0) {
        this.pending.splice(i, 1);
        this.savePending();
      }
    }
    if (!c.last || msg.msg_id > c.last.msg_id) c.last = msg;
    if (c.msgs.has(msg.msg_id)) {
      this.changed('convs', 'chat');
      return false;
    }
    c.msgs.set(msg.msg_id, msg);
    c.sortedCache = null;
    this.changed('convs', 'chat');
    return true;
  }

  addPending(peer, text) {
    const p = { peer, client_msg_id: newClientMsgId(), text, ts: Date.now(), state: 'pending', inflight: false };
    this.pending.push(p);
    this.conv(peer);
    this.savePending();
    this.changed('convs', 'chat');
    return p;
  }

  pendingFor(peer) {
    return this.pending.filter((p) => p.peer === peer);
  }

  failPending(p, error) {
    p.state = 'failed';
    p.error = error;
    p.inflight = false;
    this.savePending();
    this.changed('chat', 'convs');
  }

  dropPending(p) {
    const i = this.pending.indexOf(p);
    if (i >= 0) this.pending.splice(i, 1);
    this.savePending();
    this.changed('chat', 'convs');
  }

  savePending() {
    if (!this.me) return;
    ssSet(`chat.pending.${this.me.user_id}`, this.pending.map(({ peer, client_msg_id, text, ts, state, error }) => ({ peer, client_msg_id, text, ts, state, error })));
  }

  setPeerRead(peer, upTo) {
    if ((this.peerRead[peer] || 0) >= upTo) return;
    this.peerRead[peer] = upTo;
    if (this.me) lsSet(`chat.peerRead.${this.me.user_id}`, this.peerRead);
    this.changed('chat', 'convs');
  }

  setActive(peer) {
    this.activePeer = peer;
    if (peer != null) this.conv(peer);
    this.changed('chat', 'convs', 'layout');
  }

  setTab(tab) {
    this.tab = tab;
    this.changed('tab');
  }

  setConn(status) {
    this.conn = status;
    this.changed('conn');
  }

  totalUnread() {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread;
    return n;
  }
}
