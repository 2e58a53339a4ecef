// The main browser test: two people (two browser contexts, and a second tab for one of
// them) on one startserv node, through the web client it serves. Everything asserted is
// what the page shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startNode, launchBrowser, newPerson, attachLog, until, expectTexts, expectCount, removeDir, tempDir } from './lib.mjs';
import {
  register, searchAndRequest, requestRow, acceptRequest, friendRow, conversationRow,
  openChatWithFriend, openConversation, send, paneTexts, bubble,
} from './driver.mjs';

const RESTART_TIMEOUT = 40000; // back-off is capped at 15 s; a restart takes a second or two

test('two people: friends, live chat, unread, read receipts, tabs, presence, server restart', { timeout: 240000 }, async (t) => {
  const dir = tempDir('web-chat-test');
  const logs = [];
  let node;
  let browser;
  const pages = {};
  let failed = false;

  t.after(async () => {
    if (failed) {
      const shots = path.join(dir, 'failure');
      fs.mkdirSync(shots, { recursive: true });
      for (const [name, p] of Object.entries(pages)) {
        try { await p.screenshot({ path: path.join(shots, `${name}.png`) }); } catch (_) { /* closed */ }
      }
      t.diagnostic(`screenshots in ${shots}`);
      t.diagnostic(`page log:\n${logs.join('\n') || '(empty)'}`);
      if (node) t.diagnostic(node.tail(120));
    }
    if (browser) await browser.close().catch(() => {});
    if (node) await node.stop().catch(() => {});
    if (!failed || !process.env.WEB_TEST_KEEP) removeDir(dir);
  });

  // A step runs only while every step before it passed.
  const step = async (name, fn) => {
    if (failed) return t.test(name, { skip: 'an earlier step failed' }, () => {});
    return t.test(name, async () => {
      try {
        await fn();
      } catch (e) {
        failed = true;
        throw e;
      }
    });
  };

  await step('start a node and the browser', async () => {
    node = await startNode({ dir });
    browser = await launchBrowser();
  });

  let A;
  let B;
  let A2;
  await step('both register through the page', async () => {
    ({ page: A } = await newPerson(browser, node.base, { log: logs }));
    ({ page: B } = await newPerson(browser, node.base, { log: logs }));
    pages.alice = A;
    pages.bob = B;
    await A.getByTestId('auth-screen').waitFor();
    await register(A, { username: 'alice', nickname: 'Alice 🌸' });
    await register(B, { username: 'bob', nickname: '王小明' });
    assert.equal(await A.getByTestId('me-name').textContent(), 'Alice 🌸');
    assert.equal(await B.getByTestId('me-name').textContent(), '王小明');
  });

  await step('A finds B and sends a friend request; B sees it live and accepts', async () => {
    await searchAndRequest(A, 'bob', 'Hi Bob, it is Alice from the team 👋');
    await B.getByTestId('requests-badge').filter({ hasText: '1' }).waitFor();
    await B.getByTestId('tab-requests').click();
    assert.equal(await requestRow(B, 'alice').getByTestId('request-message').textContent(), 'Hi Bob, it is Alice from the team 👋');
    await acceptRequest(B, 'alice');
    await B.getByTestId('requests-empty').waitFor();
  });

  await step('A sees B as a friend, online; B sees A online', async () => {
    await A.getByTestId('tab-friends').click();
    await friendRow(A, 'bob').and(A.locator('[data-online=true]')).waitFor();
    assert.equal(await friendRow(A, 'bob').getByTestId('friend-status').textContent(), 'Online');
    await B.getByTestId('tab-friends').click();
    await friendRow(B, 'alice').and(B.locator('[data-online=true]')).waitFor();
  });

  const conversation = [];
  await step('they exchange messages both ways (CJK and emoji)', async () => {
    await openChatWithFriend(A, 'bob');
    assert.equal(await A.getByTestId('chat-title').textContent(), '王小明');
    await send(A, 'Hello Bob! 👋');
    conversation.push('Hello Bob! 👋');
    await expectTexts(paneTexts(A), conversation, 'A sees her first message');
    // B is on the friends tab: the conversation appears with one unread.
    await B.getByTestId('tab-chats').click();
    await conversationRow(B, 'alice').getByTestId('unread-badge').filter({ hasText: '1' }).waitFor();
    await openConversation(B, 'alice');
    await expectTexts(paneTexts(B), conversation, 'B sees the message');
    await send(B, '你好，Alice！今天天气很好 ☀️🎉');
    conversation.push('你好，Alice！今天天气很好 ☀️🎉');
    await expectTexts(paneTexts(A), conversation, 'A sees the reply');
    await expectTexts(paneTexts(B), conversation, 'B sees both');
  });

  await step('the read receipt reaches the sender', async () => {
    // B had the chat open when A's message came: A's bubble is marked read.
    await bubble(A, 'Hello Bob! 👋').and(A.locator('[data-state=read]')).waitFor();
    await A.getByTestId('read-receipt').waitFor();
    // And B's reply is read by A, who has the chat open.
    await bubble(B, '你好，Alice！今天天气很好 ☀️🎉').and(B.locator('[data-state=read]')).waitFor();
  });

  await step("A's unread count shows while she looks elsewhere and clears when opened", async () => {
    await A.getByTestId('back-button').click();
    await A.getByTestId('chat-empty').waitFor();
    await A.getByTestId('tab-chats').click();
    await send(B, 'Are you there? 😀');
    await send(B, 'ping 2');
    conversation.push('Are you there? 😀', 'ping 2');
    await conversationRow(A, 'bob').getByTestId('unread-badge').filter({ hasText: '2' }).waitFor();
    assert.equal(await A.getByTestId('chats-badge').textContent(), '2');
    // Not read yet: B's bubbles are only sent.
    assert.equal(await bubble(B, 'ping 2').getAttribute('data-state'), 'sent');
    await openConversation(A, 'bob');
    await expectCount(conversationRow(A, 'bob').getByTestId('unread-badge'), 0, 'unread badge cleared');
    await expectTexts(paneTexts(A), conversation, 'A sees all four');
    await bubble(B, 'ping 2').and(B.locator('[data-state=read]')).waitFor();
  });

  await step('a second tab of A shows the same conversation and stays in step', async () => {
    A2 = await A.context().newPage();
    attachLog(A2, logs);
    pages.alice2 = A2;
    await A2.goto(node.base);
    await A2.getByTestId('main-screen').waitFor(); // resumed with the saved token
    await openConversation(A2, 'bob');
    await expectTexts(paneTexts(A2), conversation, 'the second tab loads the history');
    await send(A2, 'from my second tab 🗂️');
    conversation.push('from my second tab 🗂️');
    await expectTexts(paneTexts(A), conversation, "A's first tab gets the second tab's message");
    await expectTexts(paneTexts(B), conversation, 'B gets it');
  });

  await step('server restart: banners, sends during the outage, reconnect, nothing lost or doubled', async () => {
    await node.stop(); // SIGTERM, waits for the exit
    for (const p of [A, A2, B]) await p.getByTestId('conn-banner').waitFor({ state: 'visible', timeout: 10000 });
    await send(A, 'sent by A while the server is down');
    await send(B, 'sent by B while the server is down 📴');
    await bubble(A, 'sent by A while the server is down').and(A.locator('[data-state=pending]')).waitFor();
    await bubble(B, 'sent by B while the server is down 📴').and(B.locator('[data-state=pending]')).waitFor();
    await node.start(); // same ports, same data dir
    for (const p of [A, A2, B]) await p.getByTestId('conn-banner').waitFor({ state: 'hidden', timeout: RESTART_TIMEOUT });
    // The pending sends go out after the reconnect (each once).
    await bubble(A, 'sent by A while the server is down').and(A.locator('[data-state=sent], [data-state=read]')).waitFor({ timeout: RESTART_TIMEOUT });
    await bubble(B, 'sent by B while the server is down 📴').and(B.locator('[data-state=sent], [data-state=read]')).waitFor({ timeout: RESTART_TIMEOUT });
    await send(A, 'after the restart, from A');
    await bubble(A, 'after the restart, from A').and(A.locator('[data-state=sent], [data-state=read]')).waitFor();
    await send(B, 'after the restart, from B ✅');
    await bubble(B, 'after the restart, from B ✅').and(B.locator('[data-state=sent], [data-state=read]')).waitFor();

    // Which of the two outage messages committed first depends on who reconnected first;
    // every pane must show the same single order.
    const shownB = await until('B to show all messages', async () => {
      const texts = await paneTexts(B).allTextContents();
      return texts.length >= conversation.length + 4 ? texts : null;
    });
    const outage = shownB.slice(conversation.length, conversation.length + 2);
    assert.deepEqual([...outage].sort(), ['sent by A while the server is down', 'sent by B while the server is down 📴'].sort(), 'both outage messages, once each');
    const expected = [...conversation, ...outage, 'after the restart, from A', 'after the restart, from B ✅'];
    await expectTexts(paneTexts(B), expected, "B's pane after the restart", RESTART_TIMEOUT);
    await expectTexts(paneTexts(A), expected, "A's pane after the restart", RESTART_TIMEOUT);
    await expectTexts(paneTexts(A2), expected, "A's second tab after the restart", RESTART_TIMEOUT);
    for (const p of [A, A2, B]) await expectCount(p.locator('[data-testid=message][data-state=pending], [data-testid=message][data-state=failed]'), 0, 'nothing left pending');
    conversation.splice(0, conversation.length, ...expected);
  });

  await step('a reload resumes the session with the saved token and shows the history', async () => {
    await B.reload();
    await B.getByTestId('main-screen').waitFor();
    assert.equal(await B.getByTestId('me-name').textContent(), '王小明');
    await openConversation(B, 'alice');
    await expectTexts(paneTexts(B), conversation, "B's pane after the reload");
  });

  await step('B closes the page; A sees B go offline', async () => {
    await B.context().close();
    delete pages.bob;
    await A.getByTestId('chat-status').filter({ hasText: 'Offline' }).waitFor();
    await A.getByTestId('tab-friends').click();
    await friendRow(A, 'bob').and(A.locator('[data-online=false]')).waitFor();
    assert.equal(await friendRow(A, 'bob').getByTestId('friend-status').textContent(), 'Offline');
  });

  await step('no page errors and no Content Security Policy violations', async () => {
    const errors = logs.filter((l) => l.startsWith('[pageerror]') || /Content Security Policy|Refused to/i.test(l));
    assert.deepEqual(errors, []);
  });
});
