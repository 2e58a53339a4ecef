// The gateway's HTTP API (docs/gateway.md), and the app's run-time configuration.

export class ApiError extends Error {
  constructor(status, error, retryAfter) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (error && error.code) || (status === 0 ? 'network' : 'internal');
    this.serverMessage = error && error.message;
    if (retryAfter != null) this.retry_after_ms = retryAfter * 1000;
  }
}

/** GET /app-config.json: {"mode": "node"} or {"mode": "gateway"}; node mode when absent. */
export async function loadConfig() {
  try {
    const res = await fetch('/app-config.json', { cache: 'no-store' });
    if (res.ok) {
      const cfg = await res.json();
      if (cfg && (cfg.mode === 'node' || cfg.mode === 'gateway')) return cfg;
    }
  } catch (_) {
    /* served without config: behave as a node */
  }
  return { mode: 'node' };
}

/** The WebSocket URL of the node that serves this page. */
export function sameOriginWsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/ws`;
}

async function post(path, body) {
  let res;
  try {
    res = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (_) {
    throw new ApiError(0, { code: 'network', message: 'network error' });
  }
  let data = null;
  try {
    data = await res.json();
  } catch (_) {
    /* not JSON */
  }
  if (!res.ok || !data || data.ok === false) {
    const retry = data && data.retry_after != null ? data.retry_after : (res.headers.get('Retry-After') ? Number(res.headers.get('Retry-After')) : null);
    throw new ApiError(res.status, (data && data.error) || { code: 'internal', message: `HTTP ${res.status}` }, retry);
  }
  return data;
}

export const gateway = {
  requestCode: (email, purpose) => post('/api/v1/codes', { email, purpose }),
  register: ({ username, password, email, code, nickname }) =>
    post('/api/v1/register', nickname ? { username, password, email, code, nickname } : { username, password, email, code }),
  login: ({ login, password }) =>
    post('/api/v1/login', login.includes('@') ? { email: login, password } : { username: login, password }),
  resetPassword: ({ email, code, password }) => post('/api/v1/reset-password', { email, code, password }),
};
