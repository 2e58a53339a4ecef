// Takes the screenshots in docs/screenshots/ from a real node with made-up people:
//   node web/tests/screenshots.mjs        (needs target/debug/startserv; STARTSERV_BIN overrides)
// Sign-in, the conversation list with a chat (CJK and emoji), friends with search,
// friend requests, phone width (list and chat), and the reconnecting banner.
import fs from 'node:fs';
import path from 'node:path';
import { startNode, launchBrowser, newPerson, removeDir, tempDir, sleep, REPO } from './lib.mjs';
import { register, acceptRequest, openConversation, send } from './driver.mjs';
import { botHost } from './bots.mjs';

const OUT = process.env.SCREENSHOT_DIR || path.join(REPO, 'docs/screenshots');
fs.mkdirSync(OUT, { recursive: true });

const BOTS = [
  ['sato', '佐藤 健 🎌'],
  ['jonas', 'Jonas Berg'],
  ['priya', 'Priya ✨'],
  ['minjun', '김민준'],
  ['carlos', 'Carlos 🎸'],
  ['ana', 'Ana Souza'],
];

async function main() {
  const dir = tempDir('web-screens');
  const node = await startNode({ dir });
  const browser = await launchBrowser();
  const shot = async (page, name) => {
    await sleep(250);
    await page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await page.screenshot({ path: path.join(OUT, `${name}.png`) });
    console.log(`wrote ${path.join(OUT, `${name}.png`)}`);
  };
  try {
    const bots = await botHost(browser, node.base);
    for (const [u, n] of BOTS) await bots.add(u, n);
    const bot = bots.call;

    // Sign-in screen.
    const { page: me } = await newPerson(browser, node.base, { width: 1280, height: 800 });
    await me.getByTestId('auth-screen').waitFor();
    await shot(me, 'login');

    await register(me, { username: 'lin_mei', nickname: '林美 Lin Mei' });
    const meId = (await bot('sato', 'search_user', { query: 'lin_mei' })).users[0].user_id;
    const notes = {
      sato: '同じプロジェクトの佐藤です。よろしく！',
      jonas: 'Hi Mei, Jonas from the design team.',
      priya: 'Hey! Priya from the climbing gym 🧗',
      minjun: '안녕하세요, 민준입니다.',
      carlos: 'Hola! We met at the meetup last week 🎸',
      ana: 'Hi, Ana here — can I add you?',
    };
    for (const [u] of BOTS) await bot(u, 'add_friend', { user_id: meId, message: notes[u] });
    for (const u of ['sato', 'jonas', 'priya', 'minjun']) await acceptRequest(me, u);

    // Conversations, oldest first.
    const say = async (u, text) => { await bot(u, 'send_message', { to: meId, text, client_msg_id: `${u}-${Math.random()}` }); await sleep(30); };
    await say('minjun', '안녕하세요! 어제 찍은 사진 보냈어요 📷');
    await say('jonas', 'Did you see the release notes? 🚀');
    await openConversation(me, 'jonas');
    await send(me, 'Yes! The new dark mode looks great 🌙');
    await say('sato', 'こんにちは！明日の会議は10時からです 📅');
    await openConversation(me, 'sato');
    await send(me, '了解です！资料我已经准备好了 👍');
    await say('sato', 'ありがとう 🙏 終わったらラーメン行きませんか？🍜');
    await send(me, '好啊！我知道一家很好吃的店 🍜✨');
    await say('sato', '最高！では12時にロビーで 😄');
    const satoView = await bot('sato', 'history', { peer: meId, limit: 1 });
    await bot('sato', 'read', { peer: meId, up_to: satoView.messages[0].msg_id });
    await me.getByTestId('back-button').click();
    await say('priya', 'Happy birthday!! 🎂🎉');
    await say('priya', 'Are we still on for Saturday? 🧗‍♀️');
    await bots.close('minjun'); // minjun goes offline
    await openConversation(me, 'sato');
    await sleep(400);
    await shot(me, 'chat');

    // Friends with search results.
    await me.getByTestId('tab-friends').click();
    await me.getByTestId('search-input').fill('a');
    await me.getByTestId('search-submit').click();
    await me.locator('[data-testid=search-result]').first().waitFor();
    await shot(me, 'friends');

    // Incoming requests.
    await me.getByTestId('tab-requests').click();
    await me.locator('[data-testid=friend-request]').first().waitFor();
    await shot(me, 'requests');

    // Phone width: the same person, resumed from the saved session.
    const session = await me.evaluate(() => localStorage.getItem('chat.session'));
    const phoneCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US', timezoneId: 'UTC' });
    await phoneCtx.addInitScript((s) => { if (!localStorage.getItem('chat.session')) localStorage.setItem('chat.session', s); }, session);
    const phone = await phoneCtx.newPage();
    await phone.goto(node.base);
    await phone.getByTestId('main-screen').waitFor();
    await phone.locator('[data-testid=conversation]').first().waitFor();
    await shot(phone, 'phone-list');
    await openConversation(phone, 'sato');
    await sleep(300);
    await shot(phone, 'phone-chat');

    // The banner while the server is away.
    await node.stop();
    await me.getByTestId('tab-chats').click();
    await openConversation(me, 'sato');
    await me.getByTestId('conn-banner').waitFor();
    await send(me, 'Sending this while offline… 📡');
    await shot(me, 'reconnecting');
  } finally {
    await browser.close();
    await node.stop();
    removeDir(dir);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
