// The protocol over WebSocket: one JSON object per text message (docs/protocol.md,
// "Transports"). Requests carry a `seq`; a response echoes it and has `ok`; a push has no
// `seq` and no `ok`. Reconnects by itself with exponential back-off and jitter.

export class ProtocolError extends Error {
  constructor(error) {
    super((error && error.message) || (error && error.code) || 'error');
    this.code = (error && error.code) || 'internal';
    this.retry_after_ms = error && error.retry_after_ms;
    this.serverMessage = error && error.message;
  }
}

const REQUEST_TIMEOUT_MS = 30000;
const PING_EVERY_MS = 25000;
const PING_TIMEOUT_MS = 10000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;

/**
 * new Connection(url, {onOpen, onPush, onStatus})
 *  - onOpen(conn): called on every new socket; must log in (conn.request('login', ...)).
 *    Resolving marks the connection ready; throwing {fatal: true} stops reconnecting,
 *    any other throw closes this socket and retries later.
 *  - onReady(conn): after onOpen resolved and the connection is marked ready.
 *  - onPush(msg): every push, in arrival order.
 *  - onStatus({state, retryInMs, attempt, error}): state is 'connecting', 'online',
 *    'reconnecting' or 'stopped'.
 */
export class Connection {
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.seq = 0;
    this.pending = new Map(); // seq -> {resolve, reject, timer, type}
    this.ready = false; // logged in on the current socket
    this.stopped = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.everOnline = false;
    this.onOnline = () => this.reconnectNow();
    window.addEventListener('online', this.onOnline);
  }

  start() {
    this.stopped = false;
    this.open();
  }

  /** Stops for good: closes the socket, rejects what is in flight, no more reconnects. */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    window.removeEventListener('online', this.onOnline);
    this.teardown('closed');
    this.status({ state: 'stopped' });
  }

  /** Skips the back-off wait (the "Retry now" button, the browser going online). */
  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this.open();
  }

  status(s) {
    this.lastStatus = s;
    this.handlers.onStatus && this.handlers.onStatus(s);
  }

  open() {
    if (this.stopped) return;
    this.status({ state: this.everOnline ? 'reconnecting' : 'connecting', attempt: this.attempt, connecting: true });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.ready = false;
    ws.onopen = async () => {
      if (this.ws !== ws) return;
      try {
        await this.handlers.onOpen(this);
        if (this.ws !== ws) return;
        this.ready = true;
        this.attempt = 0;
        this.everOnline = true;
        this.startPing();
        this.status({ state: 'online' });
        if (this.handlers.onReady) this.handlers.onReady(this);
      } catch (e) {
        if (this.ws !== ws) return;
        if (e && e.fatal) {
          this.stop();
          return;
        }
        try { ws.close(); } catch (_) { /* ignore */ }
        this.onSocketGone(ws, e);
      }
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      if (typeof ev.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      if (!msg || typeof msg !== 'object') return;
      this.dispatch(msg);
    };
    ws.onclose = () => this.onSocketGone(ws);
    ws.onerror = () => { /* onclose follows */ };
  }

  dispatch(msg) {
    if (Object.prototype.hasOwnProperty.call(msg, 'ok')) {
      const p = this.pending.get(msg.seq);
      if (!p) return;
      this.pending.delete(msg.seq);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg);
      else p.reject(new ProtocolError(msg.error));
      return;
    }
    try {
      this.handlers.onPush(msg);
    } catch (e) {
      console.error('push handler failed', e, msg);
    }
  }

  onSocketGone(ws, error) {
    if (this.ws !== ws) return;
    this.teardown('closed');
    if (this.stopped) return;
    this.scheduleReconnect(error);
  }

  teardown(code) {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(); } catch (_) { /* ignore */ }
    }
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new ProtocolError({ code, message: 'connection closed' }));
    }
  }

  scheduleReconnect(error) {
    // Exponential back-off with jitter: base * 2^attempt, capped, then a random value in
    // [half, full] of it so that many clients do not come back in lock-step.
    const hint = error && error.retry_after_ms ? error.retry_after_ms : 0;
    const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = Math.max(hint, Math.round(exp / 2 + Math.random() * (exp / 2)));
    this.attempt = Math.min(this.attempt + 1, 16);
    this.retryAt = Date.now() + delay;
    this.status({ state: this.everOnline ? 'reconnecting' : 'connecting', retryInMs: delay, retryAt: this.retryAt, attempt: this.attempt, error });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  startPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws || !this.ready) return;
      this.request('ping', {}, PING_TIMEOUT_MS).catch(() => {
        // No answer: the socket is dead without having noticed. Drop it and reconnect.
        if (this.ws === ws) this.onSocketGone(ws);
      });
    }, PING_EVERY_MS);
  }

  /** True when logged in on an open socket. */
  get online() {
    return !!this.ws && this.ready;
  }

  /**
   * Sends a request on the current socket (which must be open); resolves with the `ok`
   * response, rejects with a ProtocolError (code from the server, or 'offline', 'closed',
   * 'timeout').
   */
  request(type, fields = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ProtocolError({ code: 'offline', message: 'not connected' }));
    }
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(seq)) reject(new ProtocolError({ code: 'timeout', message: 'no answer' }));
      }, timeoutMs);
      this.pending.set(seq, { resolve, reject, timer, type });
      try {
        ws.send(JSON.stringify({ ...fields, type, seq }));
      } catch (e) {
        this.pending.delete(seq);
        clearTimeout(timer);
        reject(new ProtocolError({ code: 'closed', message: String(e) }));
      }
    });
  }
}
