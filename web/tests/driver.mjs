// Drives the web client the way a person does: through its visible controls, found by
// their data-testid attributes. Shared by the tests and the screenshot script.

export const PASSWORD = 'correct horse 42';

export async function register(page, { username, nickname, password = PASSWORD }) {
  await page.getByTestId('show-register').click();
  await page.getByTestId('register-username').fill(username);
  if (nickname) await page.getByTestId('register-nickname').fill(nickname);
  await page.getByTestId('register-password').fill(password);
  await page.getByTestId('register-submit').click();
  await page.getByTestId('main-screen').waitFor();
}

export async function login(page, { username, password = PASSWORD }) {
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('main-screen').waitFor();
}

export async function searchAndRequest(page, username, note) {
  await page.getByTestId('tab-friends').click();
  await page.getByTestId('search-input').fill(username);
  await page.getByTestId('search-submit').click();
  const row = page.locator(`[data-testid=search-result][data-username="${username}"]`);
  await row.getByTestId('add-friend').click();
  if (note !== undefined) await page.getByTestId('add-friend-message').fill(note);
  await page.getByTestId('send-request').click();
  await row.getByTestId('request-sent').waitFor();
}

export function requestRow(page, fromUsername) {
  return page.locator(`[data-testid=friend-request][data-username="${fromUsername}"]`);
}

export async function acceptRequest(page, fromUsername) {
  await page.getByTestId('tab-requests').click();
  await requestRow(page, fromUsername).getByTestId('accept-request').click();
  await requestRow(page, fromUsername).waitFor({ state: 'detached' });
}

export function friendRow(page, username) {
  return page.locator(`[data-testid=friend][data-username="${username}"]`);
}

export function conversationRow(page, username) {
  return page.locator(`[data-testid=conversation][data-username="${username}"]`);
}

export async function openChatWithFriend(page, username) {
  await page.getByTestId('tab-friends').click();
  await friendRow(page, username).click();
  await page.getByTestId('chat-view').waitFor();
}

export async function openConversation(page, username) {
  await page.getByTestId('tab-chats').click();
  await conversationRow(page, username).click();
  await page.getByTestId('chat-view').waitFor();
}

export async function send(page, text) {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('composer-input').press('Enter');
}

/** The texts of the messages shown in the open chat pane, top to bottom. */
export function paneTexts(page) {
  return page.getByTestId('message-list').getByTestId('message-text');
}

/** The message bubble holding exactly `text` in the open chat pane. */
export function bubble(page, text) {
  return page.getByTestId('message-list').locator('[data-testid=message]').filter({ has: page.getByTestId('message-text').getByText(text, { exact: true }) });
}
