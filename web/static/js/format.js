// Formatting: times, day separators, avatars (initials + colour), error messages in plain words.
import { h } from './dom.js';

const locale = navigator.language || 'en';
const timeFmt = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' });
const weekdayFmt = new Intl.DateTimeFormat(locale, { weekday: 'long' });
const shortDateFmt = new Intl.DateTimeFormat(locale, { day: 'numeric', month: 'short' });
const longDateFmt = new Intl.DateTimeFormat(locale, { weekday: 'short', day: 'numeric', month: 'long', year: 'numeric' });
const fullFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'full', timeStyle: 'medium' });

function startOfDay(ts) {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

export function dayKey(ts) {
  return startOfDay(ts);
}

export function formatTime(ts) {
  return timeFmt.format(new Date(ts));
}

export function formatFull(ts) {
  return fullFmt.format(new Date(ts));
}

/** "Today", "Yesterday", a weekday within the week, else a date. */
export function formatDay(ts) {
  const today = startOfDay(Date.now());
  const day = startOfDay(ts);
  const diff = Math.round((today - day) / 86400000);
  if (diff === 0) return 'Today';
  if (diff === 1) return 'Yesterday';
  if (diff > 1 && diff < 7) return weekdayFmt.format(new Date(ts));
  return longDateFmt.format(new Date(ts));
}

/** Time for a conversation list row: time today, weekday this week, else a short date. */
export function formatListTime(ts) {
  const today = startOfDay(Date.now());
  const day = startOfDay(ts);
  const diff = Math.round((today - day) / 86400000);
  if (diff === 0) return formatTime(ts);
  if (diff === 1) return 'Yesterday';
  if (diff > 1 && diff < 7) return weekdayFmt.format(new Date(ts)).slice(0, 3);
  return shortDateFmt.format(new Date(ts));
}

export function displayName(user) {
  if (!user) return 'Unknown';
  return user.nickname || user.username || `User ${user.user_id}`;
}

/** Up to two initials (whole code points, so CJK and emoji stay intact) from a name. */
export function initials(name) {
  const words = String(name || '?').trim().split(/[\s._-]+/).filter(Boolean);
  if (!words.length) return '?';
  const lettered = words.filter((w) => /^[\p{L}\p{N}]/u.test(w));
  const first = Array.from((lettered[0] || words[0]))[0] || '?';
  // CJK names and single words: one character; Latin "Mei Lin": "ML".
  if (lettered.length < 2 || !/^[\p{Script=Latin}\p{Script=Cyrillic}\p{Script=Greek}]/u.test(first)) return first.toUpperCase();
  const second = Array.from(lettered[1])[0] || '';
  return /^[\p{Script=Latin}\p{Script=Cyrillic}\p{Script=Greek}]/u.test(second) ? (first + second).toUpperCase() : first.toUpperCase();
}

const COLORS = ['#6366f1', '#0ea5e9', '#10b981', '#f59e0b', '#ef4444', '#8b5cf6', '#ec4899', '#14b8a6', '#f97316', '#64748b'];

export function avatarColor(seed) {
  const s = String(seed);
  let x = 0;
  for (let i = 0; i < s.length; i++) x = (x * 31 + s.charCodeAt(i)) >>> 0;
  return COLORS[x % COLORS.length];
}

/** An avatar: initials on a colour from the user id, with an optional presence dot. */
export function avatar(user, { size = 40, presence = false } = {}) {
  const name = displayName(user);
  const el = h('div.avatar', { 'aria-hidden': 'true' }, initials(name));
  // CSSOM, not a style attribute: the pages are served with CSP style-src 'self'.
  el.style.setProperty('--size', `${size}px`);
  el.style.backgroundColor = avatarColor(user ? user.user_id : name);
  if (presence) {
    el.appendChild(h('span.presence-dot', { class: user && user.online ? 'online' : 'offline', testid: 'presence-dot', dataset: { online: String(!!(user && user.online)) } }));
  }
  return el;
}

const PLAIN = {
  // protocol
  bad_frame: 'The message could not be sent (malformed).',
  frame_too_large: 'That is too long to send.',
  bad_json: 'The request was malformed.',
  unknown_type: 'The server does not understand this request; try reloading the page.',
  unauthenticated: 'Your session has ended. Please sign in again.',
  invalid_credentials: 'Wrong username or password.',
  user_exists: 'That username is already taken. Please choose another.',
  no_such_user: 'That user does not exist.',
  not_friends: 'You can only message people who are your friends.',
  already_friends: 'You are already friends.',
  no_such_request: 'That friend request is no longer pending.',
  rate_limited: 'Too many attempts. Please wait a moment and try again.',
  server_busy: 'The server is busy. Please try again in a moment.',
  server_full: 'The server is full right now. Please try again later.',
  internal: 'Something went wrong on the server. Please try again.',
  // gateway
  invalid_code: 'That code is wrong or has expired. Request a new one.',
  email_taken: 'That e-mail address already has an account. Sign in or reset the password.',
  no_node: 'No chat server is available right now. Please try again shortly.',
  too_large: 'That request is too large.',
  not_found: 'The server does not know this request.',
  method_not_allowed: 'The server does not accept this request.',
  // client
  offline: 'You are offline. It will be sent when the connection is back.',
  network: 'Cannot reach the server. Check your connection and try again.',
  timeout: 'The server did not answer in time. Please try again.',
  closed: 'The connection was lost. Please try again.',
};

const FIELD_HINTS = {
  username: 'Usernames are 3 to 32 characters: letters, digits, _ . or -.',
  password: 'Passwords are 8 to 128 bytes long.',
  nickname: 'Display names are at most 64 characters.',
  email: 'Please enter a valid e-mail address.',
  text: 'Messages are 1 to 4096 characters.',
  message: 'The note is at most 256 characters.',
  query: 'Search for 1 to 32 characters.',
  code: 'The code is the 6 digits from the e-mail.',
};

/** Turns a protocol/gateway error ({code, message, retry_after_ms}) into a sentence. */
export function plainError(err) {
  if (!err) return 'Something went wrong.';
  const code = err.code || '';
  if (code === 'bad_request') {
    const m = /`([a-z_]+)`/.exec(err.message || '');
    if (m && FIELD_HINTS[m[1]]) return FIELD_HINTS[m[1]];
    return `The server rejected the request: ${err.message || 'invalid input'}.`;
  }
  let text = PLAIN[code];
  if (!text) return err.message ? `Error: ${err.message}` : 'Something went wrong.';
  const retry = err.retry_after_ms ?? (err.retry_after != null ? err.retry_after * 1000 : null);
  if ((code === 'rate_limited' || code === 'server_busy') && retry) {
    const secs = Math.max(1, Math.ceil(retry / 1000));
    text = text.replace('a moment', `${secs} second${secs === 1 ? '' : 's'}`);
  }
  return text;
}
