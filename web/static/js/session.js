// A logged-in session: the connection, log-in (password or token), catching up after a
// reconnect (`sync` from the highest pos held), pushes into the store, sending with
// client_msg_id and retrying, read receipts, and keeping several tabs consistent.
import { Connection, ProtocolError } from './conn.js';
import { saved } from './store.js';

const SYNC_LIMIT = 200;
const HISTORY_LIMIT = 50;

export class Session {
  /**
   * store: the Store; wsUrl: where to connect; mode: 'node' | 'gateway';
   * events: {onExpired(reason), onToast(text), onFirstLogin()}.
   */
  constructor({ store, wsUrl, mode, events }) {
    this.store = store;
    this.wsUrl = wsUrl;
    this.mode = mode;
    this.events = events;
    this.token = null;
    this.credentials = null;
    this.conn = null;
    this.firstLoginDone = false;
    this.retryTimers = new Set();
    this.channel = null;
    this.onVisibility = () => {
      if (document.visibilityState === 'visible') {
        this.markReadIfVisible();
        this.refreshConversations();
        if (this.conn) this.conn.reconnectNow();
      }
    };
  }

  /**
   * Starts with a password ({username, password, register: {nickname, email}?}) or a token
   * ({token}). Resolves after the first successful login; rejects when the first login
   * fails for good (wrong password, name taken; with failFast, or a password, also when
   * the server cannot be reached). A resumed session (token, no failFast) keeps retrying.
   */
  start({ token, username, password, register, failFast = false }) {
    this.token = token || null;
    this.failFast = failFast || !token;
    this.credentials = token ? null : { username, password, register };
    return new Promise((resolve, reject) => {
      this.firstResolve = resolve;
      this.firstReject = reject;
      this.conn = new Connection(this.wsUrl, {
        onOpen: (conn) => this.onOpen(conn),
        onReady: () => this.onReady(),
        onPush: (msg) => this.onPush(msg),
        onStatus: (s) => this.onStatus(s),
      });
      document.addEventListener('visibilitychange', this.onVisibility);
      this.conn.start();
    });
  }

  /** Stops without touching the server (tab closing, or another tab logged out). */
  stop() {
    document.removeEventListener('visibilitychange', this.onVisibility);
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    if (this.conn) this.conn.stop();
    this.conn = null;
    if (this.channel) this.channel.close();
    this.channel = null;
  }

  /** Logs out on the server (revokes the token), tells the other tabs, stops. */
  async logout() {
    const conn = this.conn;
    if (conn && conn.online) {
      try { await conn.request('logout', {}, 3000); } catch (_) { /* gone anyway */ }
    }
    this.broadcast({ type: 'logout', token: this.token });
    this.clearSaved();
    this.stop();
  }

  /** Forgets the saved session unless another tab has saved a newer one meanwhile. */
  clearSaved() {
    const s = saved.load();
    if (!s || s.token === this.token) saved.clear();
  }

  onStatus(s) {
    this.store.setConn(s);
    // An interactive login that cannot even reach the server: report it and stop.
    if (!this.firstLoginDone && this.failFast && s.retryInMs != null) {
      const reject = this.firstReject;
      this.firstReject = null;
      this.stop();
      if (reject) reject(s.error instanceof ProtocolError ? s.error : new ProtocolError({ code: 'network', message: 'cannot connect' }));
    }
  }

  fatal(e) {
    const err = e instanceof ProtocolError ? e : new ProtocolError({ code: 'internal', message: String(e) });
    err.fatal = true;
    return err;
  }

  async onOpen(conn) {
    const store = this.store;
    let res;
    if (this.token) {
      try {
        res = await conn.request('login', { token: this.token });
      } catch (e) {
        if (e.code === 'invalid_credentials' || e.code === 'unauthenticated') {
          this.expire('expired');
          if (this.firstReject) this.firstReject(e);
          this.firstReject = null;
          throw this.fatal(e);
        }
        throw e;
      }
    } else {
      const { username, password, register } = this.credentials;
      try {
        if (register) {
          const fields = { username, password };
          if (register.nickname) fields.nickname = register.nickname;
          if (register.email) fields.email = register.email;
          await conn.request('register', fields);
        }
        res = await conn.request('login', { username, password });
      } catch (e) {
        if (['offline', 'closed', 'timeout', 'server_full'].includes(e.code)) throw e;
        if (this.firstReject) this.firstReject(e);
        this.firstReject = null;
        throw this.fatal(e);
      }
      this.token = res.token;
      this.credentials = null; // reconnects use the token
    }

    const prevMe = store.me;
    if (prevMe && prevMe.user_id !== res.user_id) store.reset();
    store.setMe(res);
    saved.save({ token: this.token, wsUrl: this.wsUrl, mode: this.mode, me: store.me });
    this.openChannel(res.user_id);

    if (!this.firstLoginDone) {
      // A fresh page: pushes carry everything after last_pos; older messages come from
      // `conversations` and `history`.
      store.bumpPos(res.last_pos);
    } else {
      // A reconnect: fetch what was missed, from the highest pos held, page by page.
      let after = store.maxPos;
      for (;;) {
        const page = await conn.request('sync', { after, limit: SYNC_LIMIT });
        for (const m of page.messages) {
          this.acceptMessage(m, false);
          if (m.pos > after) after = m.pos;
        }
        if (!page.more || !page.messages.length) break;
      }
      store.bumpPos(res.last_pos);
    }

    const [friends, requests, convs] = await Promise.all([
      conn.request('friends'),
      conn.request('friend_requests'),
      conn.request('conversations'),
    ]);
    store.setFriends(friends.friends);
    store.setRequests(requests.requests);
    store.setConversations(convs.conversations);
    store.loadedLists = true;
    store.changed('all');

    if (!this.firstLoginDone) {
      this.firstLoginDone = true;
      if (this.firstResolve) this.firstResolve(res);
      this.firstResolve = null;
      this.firstReject = null;
    }
  }

  /** Logged in and caught up: resend what is pending, refresh the open chat, mark read. */
  onReady() {
    const store = this.store;
    this.resendPending();
    const active = store.activePeer;
    if (active != null) this.loadHistory(active);
    this.markReadIfVisible();
  }

  onPush(msg) {
    const store = this.store;
    switch (msg.type) {
      case 'message':
        this.acceptMessage(msg, true);
        break;
      case 'friend_request':
        store.addRequest(msg);
        this.events.onToast(`${msg.from.nickname || msg.from.username} sent you a friend request`, 'request');
        break;
      case 'friend_accepted':
        store.addFriend(msg.friend);
        this.events.onToast(`${msg.friend.nickname || msg.friend.username} accepted your friend request`, 'friend');
        break;
      case 'friend_removed':
        store.removeFriend(msg.user_id);
        break;
      case 'presence':
        store.setPresence(msg.user_id, !!msg.online);
        break;
      case 'read':
        store.setPeerRead(msg.by, msg.up_to);
        break;
      case 'logged_out':
        this.expire(msg.reason || 'revoked');
        break;
      default:
        break;
    }
  }

  /** A message from a push or sync: store it, count it unread or mark it read. */
  acceptMessage(m, live) {
    const store = this.store;
    const isNew = store.addMessage(m);
    if (!isNew || !store.me || m.from === store.me.user_id) return;
    const c = store.conv(m.from);
    if (m.msg_id <= c.readSent) return;
    if (this.isVisible(m.from)) {
      this.markReadIfVisible();
    } else {
      c.unread += 1;
      store.changed('convs');
      if (live) this.events.onMessage && this.events.onMessage(m);
    }
  }

  isVisible(peer) {
    return this.store.activePeer === peer && document.visibilityState === 'visible';
  }

  /** Sends `read` for the open conversation when the page is visible. */
  markReadIfVisible() {
    const store = this.store;
    const peer = store.activePeer;
    if (peer == null || document.visibilityState !== 'visible' || !store.me) return;
    const c = store.conv(peer);
    if (c.unread) {
      c.unread = 0;
      store.changed('convs');
    }
    const top = c.topIncomingId();
    if (!top || top <= c.readSent || !this.conn || !this.conn.online) return;
    const prev = c.readSent;
    c.readSent = top;
    this.conn.request('read', { peer, up_to: top }).then(
      () => this.broadcast({ type: 'read', peer, up_to: top }),
      (e) => {
        // Not friends (any more) or no such user: the server will refuse it again; else retry later.
        if (e.code !== 'not_friends' && e.code !== 'no_such_user' && c.readSent === top) c.readSent = prev;
      },
    );
  }

  async refreshConversations() {
    const conn = this.conn;
    if (!conn || !conn.online) return;
    try {
      const res = await conn.request('conversations');
      this.store.setConversations(res.conversations);
      this.markReadIfVisible();
    } catch (_) { /* next time */ }
  }

  // ---- sending -----------------------------------------------------------------------

  send(peer, text) {
    const p = this.store.addPending(peer, text);
    this.trySend(p);
    return p;
  }

  retry(p) {
    p.state = 'pending';
    p.error = null;
    this.store.savePending();
    this.store.changed('chat');
    this.trySend(p);
  }

  trySend(p) {
    const conn = this.conn;
    if (!conn || !conn.online || p.inflight || p.state !== 'pending') return;
    p.inflight = true;
    conn.request('send_message', { to: p.peer, text: p.text, client_msg_id: p.client_msg_id }).then(
      (ack) => {
        p.inflight = false;
        const me = this.store.me;
        this.store.addMessage({ msg_id: ack.msg_id, from: me.user_id, to: p.peer, text: p.text, ts: ack.ts, client_msg_id: p.client_msg_id, pos: ack.pos });
      },
      (e) => {
        p.inflight = false;
        if (!this.store.pending.includes(p)) return; // resolved by a sync meanwhile
        if (['offline', 'closed'].includes(e.code)) return; // resent after the reconnect
        if (['timeout', 'server_busy', 'rate_limited', 'internal'].includes(e.code)) {
          const t = setTimeout(() => { this.retryTimers.delete(t); this.trySend(p); }, e.retry_after_ms || 1500);
          this.retryTimers.add(t);
          return;
        }
        this.store.failPending(p, e);
      },
    );
  }

  resendPending() {
    for (const p of [...this.store.pending]) this.trySend(p);
  }

  // ---- reading -----------------------------------------------------------------------

  /** Loads the newest page (first open, or refresh) or the page before the oldest held. */
  async loadHistory(peer, { older = false, refresh = false } = {}) {
    const store = this.store;
    const c = store.conv(peer);
    const conn = this.conn;
    if (!conn || !conn.online || c.loading) return;
    if (older && (!c.more || !c.loaded)) return;
    if (!older && c.loaded && !refresh) return;
    c.loading = true;
    store.changed('chat');
    try {
      const fields = { peer, limit: HISTORY_LIMIT };
      if (older) fields.before = c.oldestId();
      const res = await conn.request('history', fields);
      for (const m of res.messages) store.addMessage(m);
      if (!c.loaded || older) c.more = !!res.more;
      c.loaded = true;
    } catch (e) {
      if (!['offline', 'closed'].includes(e.code)) this.events.onToast(e);
    } finally {
      c.loading = false;
      store.changed('chat');
      this.markReadIfVisible();
    }
  }

  // ---- friends -----------------------------------------------------------------------

  request(type, fields) {
    if (!this.conn || !this.conn.online) return Promise.reject(new ProtocolError({ code: 'offline', message: 'offline' }));
    return this.conn.request(type, fields);
  }

  // ---- session end, tabs -------------------------------------------------------------

  expire(reason) {
    this.clearSaved();
    this.broadcast({ type: 'logout', token: this.token });
    this.stop();
    this.events.onExpired(reason);
  }

  openChannel(userId) {
    if (this.channel || typeof BroadcastChannel === 'undefined') return;
    this.channel = new BroadcastChannel(`chat.user.${userId}`);
    this.channel.onmessage = (ev) => {
      const m = ev.data || {};
      if (m.type === 'read') {
        const c = this.store.conv(m.peer);
        if (m.up_to > c.readSent) c.readSent = m.up_to;
        if (c.topIncomingId() <= m.up_to && c.unread) {
          c.unread = 0;
          this.store.changed('convs');
        }
      } else if (m.type === 'logout' && m.token === this.token) {
        this.stop();
        this.events.onExpired('other_tab');
      }
    };
  }

  broadcast(m) {
    if (this.channel) {
      try { this.channel.postMessage(m); } catch (_) { /* closed */ }
    }
  }
}
