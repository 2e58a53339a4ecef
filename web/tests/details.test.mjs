// More of what people expect, on one node: errors in plain words, history paging on
// scroll, phone width (list and chat as two screens), unread and read across two tabs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, launchBrowser, newPerson, until, expectTexts, expectCount, removeDir, tempDir, sleep } from './lib.mjs';
import { register, login, openConversation, conversationRow, paneTexts, bubble, send, PASSWORD } from './driver.mjs';
import { botHost } from './bots.mjs';

let node;
let browser;
let bots;
const logs = [];

before(async () => {
  node = await startNode({ dir: tempDir('web-details-test') });
  browser = await launchBrowser();
  bots = await botHost(browser, node.base);
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (node) {
    await node.stop().catch(() => {});
    removeDir(node.dir);
  }
});

/** Makes `username` (a page) and the bot `botName` friends; returns the bot's user id. */
async function befriend(page, username, botName, botNick) {
  const botId = await bots.add(botName, botNick);
  const me = (await bots.call(botName, 'search_user', { query: username })).users.find((u) => u.username === username);
  await bots.call(botName, 'add_friend', { user_id: me.user_id, message: 'hi' });
  await page.getByTestId('tab-requests').click();
  await page.locator(`[data-testid=friend-request][data-username="${botName}"] [data-testid=accept-request]`).click();
  await page.locator(`[data-testid=friend][data-username="${botName}"]`).waitFor({ state: 'attached' });
  return { botId, meId: me.user_id };
}

test('errors are shown in plain words', async () => {
  const { page, context } = await newPerson(browser, node.base, { log: logs });
  await register(page, { username: 'taken_name', nickname: 'First' });
  await context.close();
  const { page: p } = await newPerson(browser, node.base, { log: logs });
  // A name that is taken.
  await p.getByTestId('show-register').click();
  await p.getByTestId('register-username').fill('Taken_Name');
  await p.getByTestId('register-password').fill(PASSWORD);
  await p.getByTestId('register-submit').click();
  await p.getByTestId('auth-error').filter({ hasText: 'That username is already taken. Please choose another.' }).waitFor();
  // A name the server would refuse, caught before sending.
  await p.getByTestId('register-username').fill('no spaces allowed');
  await p.getByTestId('register-submit').click();
  await p.getByTestId('auth-error').filter({ hasText: 'Usernames are 3 to 32 characters' }).waitFor();
  // A wrong password.
  await p.getByTestId('show-login').click();
  await p.getByTestId('login-username').fill('taken_name');
  await p.getByTestId('login-password').fill('wrong password');
  await p.getByTestId('login-submit').click();
  await p.getByTestId('auth-error').filter({ hasText: 'Wrong username or password.' }).waitFor();
  // And the right one.
  await login(p, { username: 'taken_name' });
  assert.equal(await p.getByTestId('me-name').textContent(), 'First');
  await p.context().close();
});

test('history pages in as the chat scrolls up', async () => {
  const first = await newPerson(browser, node.base, { log: logs });
  await register(first.page, { username: 'reader', nickname: 'Reader' });
  const { meId } = await befriend(first.page, 'reader', 'writer', 'Writer ✍️');
  await first.context.close(); // away while the messages come: they are history
  const all = [];
  for (let i = 1; i <= 130; i++) {
    const text = `line ${String(i).padStart(3, '0')} 行`;
    all.push(text);
    await bots.call('writer', 'send_message', { to: meId, text, client_msg_id: `w${i}` });
  }
  const { page } = await newPerson(browser, node.base, { log: logs });
  await login(page, { username: 'reader' });
  await conversationRow(page, 'writer').getByTestId('unread-badge').filter({ hasText: '99+' }).waitFor();
  await openConversation(page, 'writer');
  // The newest page first: the last message is there, the first is not.
  await bubble(page, all[129]).waitFor();
  assert.ok((await paneTexts(page).count()) < 130, 'not everything at once');
  // Scroll to the top until the beginning shows.
  await until('the beginning of the conversation', async () => {
    await page.getByTestId('message-list').evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    return (await page.getByTestId('history-top').textContent()).includes('beginning');
  }, 20000);
  await expectTexts(paneTexts(page), all, 'every message once, in order');
  await page.context().close();
});

test('phone width: the list and the chat are two screens with a back button', async () => {
  const { page } = await newPerson(browser, node.base, { width: 390, height: 844, log: logs });
  await register(page, { username: 'phone_user', nickname: '手机 用户' });
  const { meId } = await befriend(page, 'phone_user', 'phone_pal', 'Pal 📱');
  await bots.call('phone_pal', 'send_message', { to: meId, text: '在吗？📱', client_msg_id: 'p1' });
  await page.getByTestId('tab-chats').click();
  await conversationRow(page, 'phone_pal').getByTestId('unread-badge').filter({ hasText: '1' }).waitFor();
  assert.equal(await page.locator('.chat').isVisible(), false, 'no chat pane next to the list');
  await conversationRow(page, 'phone_pal').click();
  await page.getByTestId('composer-input').waitFor();
  assert.equal(await page.locator('.sidebar').isVisible(), false, 'the list is hidden behind the chat');
  await send(page, '在的 👋');
  await expectTexts(paneTexts(page), ['在吗？📱', '在的 👋'], 'the chat on the phone');
  // Nothing overflows sideways.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px too wide)`);
  await page.getByTestId('back-button').click();
  await conversationRow(page, 'phone_pal').waitFor();
  assert.equal(await page.locator('.chat').isVisible(), false);
  await expectCount(conversationRow(page, 'phone_pal').getByTestId('unread-badge'), 0, 'read on the phone');
  await page.context().close();
});

test('two tabs: unread shows in both and clears in both when one reads', async () => {
  const { page: t1, context } = await newPerson(browser, node.base, { log: logs });
  await register(t1, { username: 'two_tabs', nickname: 'Two Tabs' });
  const { meId } = await befriend(t1, 'two_tabs', 'tab_pal', 'Tab Pal');
  const t2 = await context.newPage();
  await t2.goto(node.base);
  await t2.getByTestId('main-screen').waitFor();
  for (const p of [t1, t2]) await p.getByTestId('tab-chats').click();
  await bots.call('tab_pal', 'send_message', { to: meId, text: 'one', client_msg_id: 't1' });
  await bots.call('tab_pal', 'send_message', { to: meId, text: 'two', client_msg_id: 't2' });
  for (const p of [t1, t2]) await conversationRow(p, 'tab_pal').getByTestId('unread-badge').filter({ hasText: '2' }).waitFor();
  await openConversation(t1, 'tab_pal');
  await expectCount(conversationRow(t2, 'tab_pal').getByTestId('unread-badge'), 0, 'the other tab clears too');
  // A message sent from one tab shows in the other, once.
  await send(t1, 'from tab one');
  await openConversation(t2, 'tab_pal');
  await expectTexts(paneTexts(t2), ['one', 'two', 'from tab one'], 'the second tab');
  await expectTexts(paneTexts(t1), ['one', 'two', 'from tab one'], 'the first tab');
  // Signing out in one tab signs out the other.
  await t1.getByTestId('logout').click();
  await t2.getByTestId('auth-screen').waitFor();
  await context.close();
  await sleep(10);
});

test('no page errors in these tests', () => {
  assert.deepEqual(logs.filter((l) => l.startsWith('[pageerror]') || /Content Security Policy/i.test(l)), []);
});
