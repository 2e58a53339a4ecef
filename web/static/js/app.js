// Entry point: finds out where it runs (/app-config.json), resumes a saved session or shows
// the sign-in screen, and switches between the two.
import { h, setChildren } from './dom.js';
import { loadConfig, sameOriginWsUrl, gateway, ApiError } from './api.js';
import { Store, saved } from './store.js';
import { Session } from './session.js';
import { renderAuth } from './auth.js';
import { mountMain } from './main.js';
import { plainError } from './format.js';

const root = document.getElementById('app');
const toasts = h('div.toasts', { 'aria-live': 'polite' });
document.body.appendChild(toasts);

const store = new Store();
let config = { mode: 'node' };
let session = null;
let main = null;
let view = null;

function toast(what, kind = 'info') {
  const text = typeof what === 'string' ? what : plainError(what);
  const el = h('div.toast', { testid: 'toast', class: `toast-${what && typeof what !== 'string' ? 'error' : kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  toasts.appendChild(el);
  while (toasts.children.length > 3) toasts.firstChild.remove();
  setTimeout(() => el.classList.add('leaving'), 4200);
  setTimeout(() => el.remove(), 4600);
}

const NOTICES = {
  expired: 'Your session has expired. Please sign in again.',
  password_reset: 'Your password was changed, so you were signed out. Sign in with the new password.',
  other_tab: 'You were signed out in another tab.',
  signed_out: 'You have signed out.',
  node_gone: 'The server you were on is not answering. Sign in again to be moved to another one.',
};

function newSession(wsUrl) {
  return new Session({
    store,
    wsUrl,
    mode: config.mode,
    events: {
      onToast: toast,
      onExpired: (reason) => {
        if (view !== 'main') return;
        session = null;
        showAuth(NOTICES[reason] || 'You were signed out. Please sign in again.');
      },
    },
  });
}

function showMain() {
  view = 'main';
  if (main) main.destroy();
  const onRelogin = config.mode === 'gateway' ? relogin : null;
  main = mountMain(root, { store, getSession: () => session, onLogout: logout, onRelogin, toast });
}

function showAuth(notice) {
  view = 'auth';
  if (main) {
    main.destroy();
    main = null;
  }
  store.reset();
  document.title = 'Startchat';
  renderAuth(root, { mode: config.mode, notice, actions: config.mode === 'gateway' ? gatewayActions() : nodeActions() });
}

async function logout() {
  const s = session;
  session = null;
  if (s) await s.logout();
  showAuth(NOTICES.signed_out);
}

/**
 * Gateway mode: the node this session was assigned keeps refusing. Its token would work
 * on any node, but only the gateway's login says which are alive: drop the session (and
 * the saved one, so a reload does not return to the dead node) and sign in again.
 */
function relogin() {
  const s = session;
  session = null;
  if (s) s.stop();
  saved.clear();
  showAuth(NOTICES.node_gone);
}

/** Starts a session and waits for its first login; the main screen follows. */
async function begin(wsUrl, creds) {
  if (session) session.stop();
  store.reset();
  const s = newSession(wsUrl);
  session = s;
  try {
    await s.start({ ...creds, failFast: true });
  } catch (e) {
    s.stop();
    if (session === s) session = null;
    throw e;
  }
  showMain();
}

function nodeActions() {
  return {
    login: ({ login, password }) => begin(sameOriginWsUrl(), { username: login, password }),
    register: ({ username, nickname, password }) => begin(sameOriginWsUrl(), { username, password, register: { nickname } }),
  };
}

function gatewayActions() {
  const loginHttp = async (login, password) => {
    const res = await gateway.login({ login, password });
    if (!res.node || !res.node.ws) throw new ApiError(503, { code: 'no_node', message: 'the assigned node has no WebSocket' });
    await begin(res.node.ws, { token: res.token });
  };
  return {
    login: ({ login, password }) => loginHttp(login, password),
    register: async ({ email, code, username, nickname, password }) => {
      await gateway.register({ email, code, username, nickname, password });
      await loginHttp(username, password);
    },
    requestCode: (email, purpose) => gateway.requestCode(email, purpose),
    reset: ({ email, code, password }) => gateway.resetPassword({ email, code, password }),
  };
}

async function boot() {
  config = await loadConfig();
  document.documentElement.dataset.mode = config.mode;
  const s = saved.load();
  const wsUrl = s && (config.mode === 'gateway' ? s.wsUrl : sameOriginWsUrl());
  if (s && s.token && wsUrl && (s.mode || 'node') === config.mode) {
    // Resume at once with what we know; the connection catches up (or expires the token).
    store.reset();
    if (s.me) store.setMe(s.me);
    session = newSession(wsUrl);
    showMain();
    session.start({ token: s.token }).catch(() => { /* onExpired shows the sign-in screen */ });
  } else {
    showAuth();
  }
}

window.addEventListener('pagehide', () => {
  // Closing the tab: close the socket cleanly so friends see us go offline promptly.
  if (session && session.conn && session.conn.ws) {
    try { session.conn.ws.close(1000, 'page closed'); } catch (_) { /* ignore */ }
  }
});

boot().catch((e) => {
  console.error(e);
  setChildren(root, h('div.fatal', 'The app could not start. Please reload the page.'));
});
