// The main screen: sidebar (chats, friends with search, requests) and the chat pane.
import { h, setChildren, icon } from './dom.js';
import { avatar, displayName, formatTime, formatFull, formatDay, formatListTime, dayKey, plainError } from './format.js';

const GROUP_GAP_MS = 5 * 60 * 1000;
/** Failed reconnects after which the banner offers to sign in again (gateway mode). */
const RELOGIN_AFTER_ATTEMPTS = 3;

export function mountMain(root, { store, getSession, onLogout, onRelogin, toast }) {
  const session = () => getSession();

  // ---- skeleton (built once; parts re-render on store changes) -----------------------
  const banner = h('div.banner', { testid: 'conn-banner', role: 'status', hidden: true });
  const meBox = h('div.me');
  const logoutBtn = h('button.icon-btn', { type: 'button', testid: 'logout', title: 'Sign out', 'aria-label': 'Sign out', onclick: () => onLogout() }, icon('logout'));

  const tabBtn = (tab, label, ic) => {
    const badge = h('span.badge', { testid: `${tab}-badge`, hidden: true });
    const b = h('button.tab', { type: 'button', role: 'tab', testid: `tab-${tab}`, dataset: { tab }, onclick: () => store.setTab(tab) }, icon(ic), h('span.tab-label', label), badge);
    b.badge = badge;
    return b;
  };
  const tabs = { chats: tabBtn('chats', 'Chats', 'chat'), friends: tabBtn('friends', 'Friends', 'people'), requests: tabBtn('requests', 'Requests', 'addPerson') };

  const convList = h('ul.list', { testid: 'conversation-list' });
  const chatsPanel = h('section.panel', { dataset: { panel: 'chats' } }, convList);

  const searchInput = h('input.input.search-input', { type: 'search', testid: 'search-input', placeholder: 'Find people by username', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', maxlength: 32 });
  const searchResults = h('ul.list.search-results', { testid: 'search-results' });
  const searchForm = h('form.search', { onsubmit: (ev) => { ev.preventDefault(); runSearch(); } },
    h('div.search-box', icon('search', 'search-icon'), searchInput),
    h('button.btn.btn-primary', { type: 'submit', testid: 'search-submit' }, 'Search'));
  const friendList = h('div.friend-list', { testid: 'friend-list' });
  const friendsPanel = h('section.panel', { dataset: { panel: 'friends' } }, searchForm, searchResults, friendList);

  const requestList = h('ul.list', { testid: 'request-list' });
  const requestsPanel = h('section.panel', { dataset: { panel: 'requests' } }, requestList);

  const sidebar = h('aside.sidebar',
    h('header.side-head', meBox, logoutBtn),
    h('nav.tabs', { role: 'tablist' }, tabs.chats, tabs.friends, tabs.requests),
    h('div.panels', chatsPanel, friendsPanel, requestsPanel));

  // chat pane
  const chatHeadInfo = h('div.chat-head-info');
  const backBtn = h('button.icon-btn.back-btn', { type: 'button', testid: 'back-button', title: 'Back', 'aria-label': 'Back to conversations', onclick: () => closeChat() }, icon('back', 'only-phone'), icon('close', 'only-wide'));
  const chatHead = h('header.chat-head', backBtn, chatHeadInfo);
  const msgList = h('div.messages', { testid: 'message-list', role: 'log', 'aria-live': 'polite' });
  const notice = h('div.chat-notice', { testid: 'chat-notice', hidden: true });
  const composerInput = h('textarea.composer-input', { testid: 'composer-input', rows: 1, placeholder: 'Write a message…', 'aria-label': 'Message', maxlength: 8192 });
  const sendBtn = h('button.send-btn', { type: 'submit', testid: 'send-button', title: 'Send', 'aria-label': 'Send' }, icon('send'));
  const composer = h('form.composer', { onsubmit: (ev) => { ev.preventDefault(); sendNow(); } }, composerInput, sendBtn);
  const chatView = h('div.chat-view', { testid: 'chat-view' }, chatHead, msgList, notice, composer);
  const chatEmpty = h('div.chat-empty', { testid: 'chat-empty' },
    h('div.chat-empty-art', { 'aria-hidden': 'true' }, icon('chat')),
    h('h2', 'Your messages'),
    h('p', 'Pick a conversation, or find friends in the Friends tab.'));
  const chatPane = h('main.chat', chatEmpty, chatView);

  const layout = h('div.layout', sidebar, chatPane);
  setChildren(root, h('div.app', { testid: 'main-screen' }, banner, layout));

  // ---- behaviour -------------------------------------------------------------------

  composerInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendNow();
    }
  });
  composerInput.addEventListener('input', autosize);
  function autosize() {
    composerInput.style.height = '';
    if (!composerInput.offsetParent || !composerInput.value) return; // hidden or empty: CSS size
    composerInput.style.height = `${Math.min(Math.max(composerInput.scrollHeight + 2, 42), 160)}px`;
  }

  document.addEventListener('keydown', onKey);
  function onKey(ev) {
    if (ev.key === 'Escape' && store.activePeer != null && !ev.defaultPrevented) closeChat();
  }

  msgList.addEventListener('scroll', () => {
    const peer = store.activePeer;
    if (peer == null) return;
    if (msgList.scrollTop < 120) session()?.loadHistory(peer, { older: true });
  });

  function openChat(peer) {
    const changed = store.activePeer !== peer;
    store.setActive(peer);
    if (changed) {
      forceBottom = true;
      composerInput.value = drafts.get(peer) || '';
      autosize();
    }
    const s = session();
    if (s) {
      s.loadHistory(peer);
      s.markReadIfVisible();
    }
    if (window.matchMedia('(min-width: 721px)').matches) composerInput.focus();
  }

  function closeChat() {
    if (store.activePeer != null) drafts.set(store.activePeer, composerInput.value);
    store.setActive(null);
  }

  const drafts = new Map();

  function sendNow() {
    const peer = store.activePeer;
    const text = composerInput.value.replace(/^\s*\n+|\s+$/g, '');
    if (peer == null || !text.trim()) return;
    if (Array.from(text).length > 4096) {
      toast('Messages are 1 to 4096 characters.', 'error');
      return;
    }
    const s = session();
    if (!s) return;
    s.send(peer, text);
    composerInput.value = '';
    drafts.delete(peer);
    autosize();
    forceBottom = true;
    composerInput.focus();
  }

  async function runSearch() {
    const q = searchInput.value.trim();
    if (!q) {
      lastSearch = null;
      renderSearch();
      return;
    }
    try {
      const res = await session().request('search_user', { query: q });
      lastSearch = { query: q, users: res.users, more: res.more };
      for (const u of res.users) store.upsertUser(u);
    } catch (e) {
      lastSearch = null;
      toast(e, 'error');
    }
    renderSearch();
  }
  let lastSearch = null;
  let addingFor = null; // user id whose add-friend form is open

  async function sendFriendRequest(u, message, button) {
    button.disabled = true;
    try {
      const fields = { user_id: u.user_id };
      if (message) fields.message = message;
      await session().request('add_friend', fields);
      store.requested.add(u.user_id);
      addingFor = null;
      toast(`Friend request sent to ${displayName(u)}`, 'ok');
    } catch (e) {
      if (e.code === 'already_friends') store.friendIds.add(u.user_id);
      toast(e, 'error');
    } finally {
      button.disabled = false;
      renderSearch();
    }
  }

  async function answerRequest(r, accept, button) {
    button.disabled = true;
    try {
      if (accept) {
        const res = await session().request('accept_friend', { request_id: r.request_id });
        store.addFriend(res.friend);
        toast(`You and ${displayName(res.friend)} are now friends`, 'ok');
      } else {
        await session().request('reject_friend', { request_id: r.request_id });
      }
      store.removeRequest(r.request_id);
    } catch (e) {
      if (e.code === 'no_such_request') store.removeRequest(r.request_id);
      toast(e, 'error');
      button.disabled = false;
    }
  }

  // ---- rendering -------------------------------------------------------------------

  function renderMe() {
    const me = store.me;
    if (!me) return setChildren(meBox);
    setChildren(meBox, avatar(me, { size: 36 }),
      h('div.me-text', h('div.me-name', { testid: 'me-name' }, displayName(me)), h('div.me-handle', `@${me.username}`)));
  }

  function renderTabs() {
    for (const [name, b] of Object.entries(tabs)) {
      const on = store.tab === name;
      b.classList.toggle('active', on);
      b.setAttribute('aria-selected', String(on));
    }
    for (const p of [chatsPanel, friendsPanel, requestsPanel]) p.hidden = p.dataset.panel !== store.tab;
    const unread = store.totalUnread();
    tabs.chats.badge.hidden = !unread;
    tabs.chats.badge.textContent = unread > 99 ? '99+' : String(unread);
    const nreq = store.requests.size;
    tabs.requests.badge.hidden = !nreq;
    tabs.requests.badge.textContent = String(nreq);
    document.title = unread ? `(${unread}) Startchat` : 'Startchat';
  }

  function previewOf(c) {
    const pend = store.pendingFor(c.peerId);
    const me = store.me;
    if (pend.length) {
      const p = pend[pend.length - 1];
      if (!c.last || p.ts >= c.last.ts) return { text: p.text, mine: true, ts: p.ts, pending: true };
    }
    if (!c.last) return { text: '', mine: false, ts: 0 };
    return { text: c.last.text, mine: me && c.last.from === me.user_id, ts: c.last.ts, read: (store.peerRead[c.peerId] || 0) >= c.last.msg_id };
  }

  function renderConvs() {
    const items = store.sortedConvs();
    if (!items.length) {
      setChildren(convList, h('li.empty', { testid: 'conversations-empty' },
        h('p', 'No conversations yet.'),
        h('button.btn.btn-ghost', { type: 'button', onclick: () => store.setTab('friends') }, 'Find friends')));
      return;
    }
    setChildren(convList, items.map((c) => {
      const u = store.user(c.peerId);
      const pv = previewOf(c);
      const active = store.activePeer === c.peerId;
      return h('li.row.conv', {
        testid: 'conversation', dataset: { username: u.username, peer: String(c.peerId) }, class: active ? 'active' : '',
        tabindex: 0, role: 'button', onclick: () => openChat(c.peerId), onkeydown: (ev) => { if (ev.key === 'Enter') openChat(c.peerId); },
      },
      avatar(u, { size: 44, presence: true }),
      h('div.row-main',
        h('div.row-top', h('span.row-title', { testid: 'conversation-name' }, displayName(u)), pv.ts ? h('time.row-time', { datetime: new Date(pv.ts).toISOString() }, formatListTime(pv.ts)) : null),
        h('div.row-bottom',
          h('span.row-sub', { testid: 'conversation-preview' },
            pv.mine ? h('span.preview-you', pv.pending ? icon('clock', 'tick') : icon(pv.read ? 'checks' : 'check', pv.read ? 'tick read' : 'tick')) : null,
            pv.text),
          c.unread ? h('span.badge.unread', { testid: 'unread-badge' }, c.unread > 99 ? '99+' : String(c.unread)) : null)));
    }));
  }

  function userRow(u, extra, attrs = {}) {
    return h('li.row', attrs,
      avatar(u, { size: 40, presence: store.isFriend(u.user_id) }),
      h('div.row-main',
        h('div.row-top', h('span.row-title', displayName(u))),
        h('div.row-bottom', h('span.row-sub', `@${u.username}`))),
      extra);
  }

  function renderSearch() {
    if (!lastSearch) return setChildren(searchResults);
    const me = store.me;
    const users = lastSearch.users;
    if (!users.length) {
      setChildren(searchResults, h('li.empty.small', { testid: 'search-empty' }, `No one found for “${lastSearch.query}”.`));
      return;
    }
    setChildren(searchResults, h('li.list-heading', 'Search results'), users.map((raw) => {
      const u = store.user(raw.user_id);
      let action;
      if (me && u.user_id === me.user_id) action = h('span.pill', 'You');
      else if (store.isFriend(u.user_id)) action = h('button.btn.btn-small', { type: 'button', testid: 'message-user', onclick: () => openChat(u.user_id) }, 'Message');
      else if (store.requested.has(u.user_id)) action = h('span.pill', { testid: 'request-sent' }, 'Requested');
      else action = h('button.btn.btn-small.btn-primary', { type: 'button', testid: 'add-friend', onclick: () => { addingFor = u.user_id; renderSearch(); } }, 'Add friend');
      const row = userRow(u, action, { testid: 'search-result', dataset: { username: u.username } });
      if (addingFor === u.user_id) {
        const msg = h('textarea.input.note-input', { testid: 'add-friend-message', rows: 2, maxlength: 256, placeholder: 'Add a note (optional)' });
        msg.value = me ? `Hi! I'm ${displayName(me)}.` : '';
        const send = h('button.btn.btn-small.btn-primary', { type: 'button', testid: 'send-request', onclick: () => sendFriendRequest(u, msg.value.trim(), send) }, 'Send request');
        const form = h('div.add-form', { testid: 'add-friend-form' }, msg,
          h('div.add-actions', h('button.btn.btn-small.btn-ghost', { type: 'button', onclick: () => { addingFor = null; renderSearch(); } }, 'Cancel'), send));
        return [row, h('li.row-extra', form)];
      }
      return row;
    }), lastSearch.more ? h('li.empty.small', 'More people match: type more of the name.') : null);
  }

  function renderFriends() {
    const friends = store.friends().sort((a, b) => displayName(a).localeCompare(displayName(b)));
    if (!friends.length) {
      setChildren(friendList, h('p.empty', { testid: 'friends-empty' }, 'No friends yet. Search for someone above and send a request.'));
      return;
    }
    const online = friends.filter((u) => u.online);
    const offline = friends.filter((u) => !u.online);
    const row = (u) => h('li.row.friend', {
      testid: 'friend', dataset: { username: u.username, online: String(!!u.online) }, tabindex: 0, role: 'button',
      onclick: () => openChat(u.user_id), onkeydown: (ev) => { if (ev.key === 'Enter') openChat(u.user_id); },
    },
    avatar(u, { size: 40, presence: true }),
    h('div.row-main',
      h('div.row-top', h('span.row-title', displayName(u))),
      h('div.row-bottom', h('span.row-sub', { testid: 'friend-status', class: u.online ? 'status-online' : '' }, u.online ? 'Online' : 'Offline'), h('span.row-handle', `@${u.username}`))));
    setChildren(friendList,
      online.length ? [h('h3.list-heading', `Online — ${online.length}`), h('ul.list', online.map(row))] : null,
      offline.length ? [h('h3.list-heading', `Offline — ${offline.length}`), h('ul.list', offline.map(row))] : null);
  }

  function renderRequests() {
    const reqs = [...store.requests.values()].sort((a, b) => b.ts - a.ts);
    if (!reqs.length) {
      setChildren(requestList, h('li.empty', { testid: 'requests-empty' }, 'No pending friend requests.'));
      return;
    }
    setChildren(requestList, reqs.map((r) => {
      const u = store.user(r.from.user_id);
      const accept = h('button.btn.btn-small.btn-primary', { type: 'button', testid: 'accept-request', onclick: () => answerRequest(r, true, accept) }, 'Accept');
      const reject = h('button.btn.btn-small.btn-ghost', { type: 'button', testid: 'reject-request', onclick: () => answerRequest(r, false, reject) }, 'Decline');
      return h('li.request', { testid: 'friend-request', dataset: { username: u.username } },
        h('div.request-top', avatar(u, { size: 40 }),
          h('div.row-main',
            h('div.row-top', h('span.row-title', displayName(u)), r.ts ? h('time.row-time', formatListTime(r.ts)) : null),
            h('div.row-bottom', h('span.row-sub', `@${u.username}`)))),
        r.message ? h('p.request-message', { testid: 'request-message' }, r.message) : null,
        h('div.request-actions', reject, accept));
    }));
  }

  // messages: keyed element cache so re-renders keep nodes
  const msgCache = new Map();
  let renderedPeer = null;
  let forceBottom = false;
  let firstKey = null;

  function renderChat() {
    const peer = store.activePeer;
    layout.classList.toggle('show-chat', peer != null);
    chatEmpty.hidden = peer != null;
    chatView.hidden = peer == null;
    if (peer == null) {
      renderedPeer = null;
      return;
    }
    const u = store.user(peer);
    const c = store.conv(peer);
    const friend = store.isFriend(peer);
    setChildren(chatHeadInfo, avatar(u, { size: 38, presence: friend }),
      h('div.chat-head-text',
        h('div.chat-title', { testid: 'chat-title' }, displayName(u)),
        h('div.chat-status', { testid: 'chat-status', class: u.online ? 'status-online' : '' }, friend ? (u.online ? 'Online' : 'Offline') : `@${u.username}`)));

    notice.hidden = friend || !store.loadedLists;
    notice.textContent = friend ? '' : `You are not friends with ${displayName(u)}, so you cannot send messages.`;
    composerInput.disabled = !friend && store.loadedLists;
    sendBtn.disabled = composerInput.disabled;

    // Keep the reading position: stick to the bottom, or hold still when older pages arrive.
    const switched = renderedPeer !== peer;
    const atBottom = msgList.scrollHeight - msgList.scrollTop - msgList.clientHeight < 80;
    const prevHeight = msgList.scrollHeight;
    const prevTop = msgList.scrollTop;
    if (switched) msgCache.clear();

    const me = store.me;
    const readUpTo = store.peerRead[peer] || 0;
    const items = [...c.sorted(), ...store.pendingFor(peer)];
    let lastMineReadKey = null;
    for (const m of items) if (m.msg_id && me && m.from === me.user_id && m.msg_id <= readUpTo) lastMineReadKey = m.msg_id;

    const nodes = [];
    const top = h('div.history-top', { testid: 'history-top' },
      c.loading ? h('span.spinner-text', 'Loading…')
        : (c.loaded && !c.more ? h('span', `This is the beginning of your conversation with ${displayName(u)}.`) : null));
    nodes.push(top);
    let prevDay = null;
    let prev = null;
    const seen = new Set();
    for (const m of items) {
      const pending = !m.msg_id;
      const mine = pending || (me && m.from === me.user_id);
      const ts = m.ts;
      const day = dayKey(ts);
      if (day !== prevDay) {
        nodes.push(h('div.day-sep', { testid: 'day-separator' }, h('span', formatDay(ts))));
        prevDay = day;
        prev = null;
      }
      const grouped = prev && prev.mine === mine && ts - prev.ts < GROUP_GAP_MS;
      let state;
      if (!mine) state = 'received';
      else if (pending) state = m.state; // pending | failed
      else state = m.msg_id <= readUpTo ? 'read' : 'sent';
      const key = pending ? `p:${m.client_msg_id}` : `m:${m.msg_id}`;
      const showReceipt = mine && !pending && m.msg_id === lastMineReadKey;
      const sig = `${state}|${grouped}|${showReceipt}|${m.error ? m.error.code : ''}`;
      seen.add(key);
      let cached = msgCache.get(key);
      if (!cached || cached.sig !== sig) {
        cached = { sig, el: messageEl(m, { mine, state, grouped, showReceipt }) };
        msgCache.set(key, cached);
      }
      nodes.push(cached.el);
      prev = { mine, ts };
    }
    for (const k of [...msgCache.keys()]) if (!seen.has(k)) msgCache.delete(k);
    const newFirst = items.length ? (items[0].msg_id || items[0].client_msg_id) : null;
    msgList.replaceChildren(...nodes);

    if (switched || forceBottom || atBottom) {
      msgList.scrollTop = msgList.scrollHeight;
    } else if (newFirst !== firstKey) {
      msgList.scrollTop = prevTop + (msgList.scrollHeight - prevHeight);
    }
    forceBottom = false;
    firstKey = newFirst;
    renderedPeer = peer;

    // Not enough to scroll: fetch older pages until it fills (or there are none).
    if (c.loaded && c.more && !c.loading && msgList.scrollHeight <= msgList.clientHeight + 10) {
      queueMicrotask(() => session()?.loadHistory(peer, { older: true }));
    }
  }

  function messageEl(m, { mine, state, grouped, showReceipt }) {
    const ticks = mine ? {
      pending: icon('clock', 'tick'),
      failed: icon('alert', 'tick failed'),
      sent: icon('check', 'tick'),
      read: icon('checks', 'tick read'),
    }[state] : null;
    const stateLabel = { pending: 'Sending…', failed: 'Not sent', sent: 'Sent', read: 'Read', received: '' }[state];
    const el = h('div.msg', {
      testid: 'message', class: `${mine ? 'mine' : 'theirs'} ${grouped ? 'grouped' : ''} state-${state}`,
      dataset: { state, msgId: m.msg_id ? String(m.msg_id) : '' },
    },
    h('div.bubble',
      h('span.msg-text', { testid: 'message-text' }, m.text),
      h('span.msg-meta', { title: `${formatFull(m.ts)}${stateLabel ? ` · ${stateLabel}` : ''}` },
        h('time', { datetime: new Date(m.ts).toISOString() }, formatTime(m.ts)), ticks)));
    if (state === 'failed') {
      const s = session();
      el.appendChild(h('div.msg-error', { testid: 'message-error' },
        h('span', plainError(m.error)),
        h('button.link', { type: 'button', testid: 'retry-message', onclick: () => s && s.retry(m) }, 'Retry'),
        h('button.link', { type: 'button', testid: 'delete-message', onclick: () => store.dropPending(m) }, 'Delete')));
    }
    if (showReceipt) el.appendChild(h('div.receipt', { testid: 'read-receipt' }, 'Read'));
    return el;
  }

  // connection banner with a countdown
  let bannerTimer = null;
  function renderBanner() {
    const s = store.conn || {};
    clearInterval(bannerTimer);
    bannerTimer = null;
    if (s.state === 'online' || s.state === 'stopped') {
      banner.hidden = true;
      banner.dataset.state = s.state;
      return;
    }
    banner.hidden = false;
    banner.dataset.state = s.state || 'connecting';
    const draw = () => {
      let text;
      const offlineNet = navigator.onLine === false;
      if (s.state === 'connecting' && !s.retryAt) text = 'Connecting…';
      else if (s.connecting || !s.retryAt) text = offlineNet ? 'No network. Waiting for a connection…' : 'Offline. Reconnecting…';
      else {
        const secs = Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000));
        text = `${offlineNet ? 'No network.' : 'Offline.'} Reconnecting in ${secs} s…`;
      }
      // Through the gateway, a node that keeps refusing may be gone for good: signing in
      // again gets a live one (the gateway skips dead nodes).
      const moveOn = onRelogin && (s.attempt || 0) >= RELOGIN_AFTER_ATTEMPTS
        ? h('button.banner-btn', { type: 'button', testid: 'sign-in-again', onclick: () => onRelogin() }, 'Sign in again')
        : null;
      setChildren(banner, h('span.banner-dot', { 'aria-hidden': 'true' }), h('span.banner-text', { testid: 'conn-banner-text' }, text),
        s.retryAt && !s.connecting ? h('button.banner-btn', { type: 'button', testid: 'reconnect-now', onclick: () => session()?.conn?.reconnectNow() }, 'Retry now') : null,
        moveOn);
    };
    draw();
    if (s.retryAt && !s.connecting) bannerTimer = setInterval(draw, 1000);
  }

  function render(d) {
    const all = d.has('all');
    if (all || d.has('me')) renderMe();
    if (all || d.has('tab') || d.has('convs') || d.has('requests')) renderTabs();
    if (all || d.has('convs') || d.has('friends') || d.has('layout')) renderConvs();
    if (all || d.has('friends')) renderFriends();
    if (all || d.has('search') || d.has('friends')) renderSearch();
    if (all || d.has('requests')) renderRequests();
    if (all || d.has('chat') || d.has('layout') || d.has('friends')) renderChat();
    if (all || d.has('conn')) renderBanner();
  }

  const unsubscribe = store.on(render);
  render(new Set(['all']));

  return {
    destroy() {
      unsubscribe();
      clearInterval(bannerTimer);
      document.removeEventListener('keydown', onKey);
    },
    openChat,
  };
}
