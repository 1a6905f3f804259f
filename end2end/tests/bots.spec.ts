import { expect, request, test, type Page } from '@playwright/test';

import { API_KEY, SECRET_KEY, addKey, hydrated, registerAndSignIn } from './helpers';

const ORDER = '/gateway/binance/api/v3/order?side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000';

async function focusedText(page: Page) {
  return page.evaluate(() => document.activeElement?.textContent ?? '');
}

test('a bot from creation to deletion: policy, a token shown once, its orders, pause and resume', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await registerAndSignIn(page, `bots-${Date.now()}@example.com`);
  await addKey(page, API_KEY, SECRET_KEY, 'main');
  await expect(page.getByTestId('masked-key')).toBeVisible();
  // No bot yet: no emergency stop in the header.
  await expect(page.getByRole('button', { name: 'Pause all bots' })).toHaveCount(0);

  await page.getByRole('link', { name: 'Bots' }).click();
  await expect(page.getByRole('heading', { name: 'Bots', level: 1 })).toBeVisible();
  await page.getByLabel('Name', { exact: true }).fill('grid');
  await page.getByLabel('Symbol', { exact: true }).fill('btcusdt');
  await page.getByLabel(/^Largest order/).fill('100');
  await page.getByLabel(/^Orders per minute/).fill('30');
  await page.getByLabel('MARKET', { exact: true }).uncheck();
  await page.getByRole('button', { name: 'Add bot' }).click();
  await expect(page.getByRole('status')).toHaveText('Bot grid added.');
  const bot = page.getByTestId('bot');
  await expect(bot.getByRole('heading', { level: 2 })).toHaveText('grid · BTCUSDT');
  await expect(bot.getByTestId('bot-order-types')).toHaveText('LIMIT, LIMIT_MAKER');
  await expect(bot.getByTestId('bot-max-notional')).toHaveText('100');
  await expect(bot.getByTestId('bot-status')).toHaveText('enabled');
  await expect(page.getByRole('button', { name: 'Pause all bots' })).toBeVisible();

  // A new token: shown once in a dialog that holds the focus, with snippets for the bot.
  const newToken = bot.getByRole('button', { name: 'New token' });
  await newToken.click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  const token = (await dialog.getByTestId('new-token').textContent()) ?? '';
  expect(token).toMatch(/^kwb_[A-Za-z0-9_-]{40,}$/);
  const origin = new URL(page.url()).origin;
  await expect(dialog.getByTestId('ccxt-snippet')).toContainText(`"public": "${origin}/gateway/binance/api/v3"`);
  await expect(dialog.getByTestId('ccxt-snippet')).toContainText('fetch_ticker("BTC/USDT")');
  await expect(dialog.getByTestId('ccxt-snippet')).toContainText(token);
  await expect(dialog.getByTestId('python-binance-snippet')).toContainText(`client.API_URL = "${origin}/gateway/binance/api"`);
  await expect(dialog.getByTestId('python-binance-snippet')).toContainText('symbol="BTCUSDT"');
  expect(await page.evaluate(() => !!document.activeElement?.closest('dialog'))).toBe(true);
  await dialog.getByRole('button', { name: 'Copy token' }).click();
  await expect(dialog.getByRole('button', { name: 'Copied' })).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  expect(await focusedText(page)).toBe('New token');
  const tokens = bot.getByTestId('tokens');
  await expect(tokens).toContainText(`${token.slice(0, 12)}…`);
  expect(await page.content()).not.toContain(token);

  // The bot (a client of its own, without the browser's cookies) trades with it: one order
  // placed, one refused by its policy.
  const headers = { 'X-MBX-APIKEY': token };
  const botClient = await request.newContext({ baseURL: origin });
  const placed = await botClient.post(`${ORDER}&symbol=BTCUSDT`, { headers });
  expect(placed.status()).toBe(200);
  const orderId = (await placed.json()).orderId;
  const refused = await botClient.post(`${ORDER}&symbol=ETHUSDT`, { headers });
  expect(refused.status()).toBe(403);
  await page.reload();
  await hydrated(page);
  await expect(bot.getByTestId('bot-today')).toHaveText('1 sent, 1 refused');
  await bot.getByRole('button', { name: 'Activity' }).click();
  const activity = bot.getByTestId('bot-activity');
  await expect(activity.locator('li').first()).toContainText("refused: another symbol than the bot's");
  await expect(activity).toContainText(`Order BUY LIMIT 0.001 BTCUSDT at 60000 — placed: Binance order ${orderId}`);
  await expect(activity.locator('time').first()).toHaveAttribute('title', /UTC$/);

  // Disable and enable in one click each.
  await bot.getByRole('button', { name: 'Disable' }).click();
  await expect(bot.getByTestId('bot-status')).toHaveText('disabled');
  // The token no longer works: 401, as for any token that stopped working.
  expect((await botClient.post(`${ORDER}&symbol=BTCUSDT`, { headers })).status()).toBe(401);
  await bot.getByRole('button', { name: 'Enable' }).click();
  await expect(bot.getByTestId('bot-status')).toHaveText('enabled');

  // The emergency stop asks once, then leaves a banner on every page until Resume.
  await page.getByRole('button', { name: 'Pause all bots' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Pause all bots' }).click();
  const banner = page.getByTestId('paused-banner');
  await expect(banner).toContainText('Every bot is paused');
  expect((await botClient.post(`${ORDER}&symbol=BTCUSDT`, { headers })).status()).toBe(401);
  await page.getByRole('link', { name: 'Activity' }).click();
  await expect(page.getByRole('heading', { name: 'Activity' })).toBeVisible();
  await expect(banner).toBeVisible();
  await banner.getByRole('button', { name: 'Resume' }).click();
  await expect(banner).toHaveCount(0);
  expect((await botClient.post(`${ORDER}&symbol=BTCUSDT`, { headers })).status()).toBe(200);

  // Revoking asks first; the token then stops working.
  await page.getByRole('link', { name: 'Bots' }).click();
  await bot.getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByRole('status')).toContainText('Token revoked');
  await expect(bot).toContainText('No tokens');
  expect((await botClient.post(`${ORDER}&symbol=BTCUSDT`, { headers })).status()).toBe(401);

  // Deleting names the tokens that go with the bot.
  await bot.getByRole('button', { name: 'New token' }).click();
  const second = (await page.getByRole('dialog').getByTestId('new-token').textContent()) ?? '';
  await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
  await bot.getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByRole('dialog').getByTestId('doomed-tokens')).toContainText(second.slice(0, 12));
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByRole('status')).toContainText('Bot deleted');
  await expect(page.getByTestId('bot')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Pause all bots' })).toHaveCount(0);
  expect(errors).toEqual([]);
});
