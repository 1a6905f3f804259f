// axe-core on every page and every dialog (no serious or critical violation), and the flows a
// person without a mouse takes: adding a key and issuing a bot token with the keyboard alone.
import { expect, test, type Page } from '@playwright/test';

import {
  API_KEY,
  SECRET_KEY,
  addKey,
  hydrated,
  noSeriousViolations,
  registerAndSignIn,
} from './helpers';

for (const scheme of ['light', 'dark'] as const) {
  test(`every page and dialog passes axe (${scheme})`, async ({ page }) => {
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto('/login');
    await hydrated(page);
    await noSeriousViolations(page, 'sign-in');
    await page.goto('/register');
    await hydrated(page);
    await noSeriousViolations(page, 'register');

    await registerAndSignIn(page, `axe-${scheme}-${Date.now()}@example.com`);
    await noSeriousViolations(page, 'keys, no key yet');
    await addKey(page, API_KEY, SECRET_KEY, 'main');
    await expect(page.getByTestId('masked-key')).toBeVisible();
    await page.getByRole('button', { name: 'Show balances' }).click();
    await expect(page.getByRole('table')).toBeVisible();
    await noSeriousViolations(page, 'keys with a key and balances');

    await page.getByRole('link', { name: 'Bots' }).click();
    await expect(page.getByRole('heading', { name: 'Bots', level: 1 })).toBeVisible();
    await noSeriousViolations(page, 'bots, none yet');
    await page.getByLabel('Name', { exact: true }).fill('grid');
    await page.getByLabel('Symbol', { exact: true }).fill('BTCUSDT');
    await page.getByRole('button', { name: 'Add bot' }).click();
    const bot = page.getByTestId('bot');
    await expect(bot).toBeVisible();
    await bot.getByRole('button', { name: 'New token' }).click();
    await expect(page.getByRole('dialog')).toBeVisible();
    await noSeriousViolations(page, 'the new-token dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
    await bot.getByRole('button', { name: 'Edit' }).click();
    await bot.getByRole('button', { name: 'Activity' }).click();
    await expect(bot.getByTestId('bot-activity')).toContainText('Bot token issued');
    await noSeriousViolations(page, 'bots with a bot, its edit form and activity');
    await bot.getByRole('button', { name: 'Revoke' }).click();
    await noSeriousViolations(page, 'the revoke dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await bot.getByRole('button', { name: 'Delete' }).click();
    await expect(page.getByRole('dialog').getByTestId('doomed-tokens')).toBeVisible();
    await noSeriousViolations(page, 'the delete-bot dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Pause all bots' }).click();
    await noSeriousViolations(page, 'the pause dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Pause all bots' }).click();
    await expect(page.getByTestId('paused-banner')).toBeVisible();
    await noSeriousViolations(page, 'bots with the paused banner');

    await page.getByRole('link', { name: 'Activity' }).click();
    await expect(page.getByTestId('activity')).toBeVisible();
    await noSeriousViolations(page, 'activity');
    await page.getByRole('link', { name: 'Account' }).click();
    await expect(page.getByRole('heading', { name: 'Account' })).toBeVisible();
    await noSeriousViolations(page, 'account');
    await page.getByLabel('Webhook URL').fill('http://127.0.0.1:9/hook');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    await expect(page.getByRole('dialog').getByTestId('webhook-secret')).toBeVisible();
    await noSeriousViolations(page, 'the webhook secret dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click();
    const webhook = page.getByTestId('webhooks').getByRole('listitem');
    await webhook.getByRole('button', { name: 'Delivery log' }).click();
    await expect(webhook.getByText('Nothing sent yet.')).toBeVisible();
    await noSeriousViolations(page, 'account with a webhook and its log');
    await webhook.getByRole('button', { name: 'Delete' }).click();
    await noSeriousViolations(page, 'the delete-webhook dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('link', { name: 'API key' }).click();
    await page.getByRole('button', { name: 'Delete key' }).click();
    await expect(page.getByRole('dialog')).toBeVisible();
    await noSeriousViolations(page, 'the delete-key dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await page.goto('/key/delete');
    await hydrated(page);
    await expect(page.getByTestId('doomed-configs')).toBeVisible();
    await noSeriousViolations(page, 'the delete-key page (no script)');
  });
}

/// Presses Tab until the focused element is `what`: `INPUT:<its label>`, `BUTTON:<its text>`,
/// `A:<its text>`, as a keyboard user would reach it.
async function tabTo(page: Page, what: string | RegExp, most = 40) {
  for (let i = 0; i < most; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el) return '';
      const label = el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent : null;
      const name = el.getAttribute('aria-label') ?? label ?? (el.tagName === 'INPUT' ? el.closest('label')?.textContent : el.textContent);
      return `${el.tagName}:${(name ?? '').trim()}`;
    });
    if (typeof what === 'string' ? focused === what : what.test(focused)) return;
  }
  throw new Error(`Tab never reached ${what}`);
}

test('adding a key and issuing a bot token with the keyboard alone', async ({ page }) => {
  await registerAndSignIn(page, `keys-by-keyboard-${Date.now()}@example.com`);
  await tabTo(page, 'INPUT:API key');
  await page.keyboard.type(API_KEY);
  await tabTo(page, /^INPUT:Secret key/);
  await page.keyboard.type(SECRET_KEY);
  await tabTo(page, 'BUTTON:Add key');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('masked-key')).toHaveText('vmPU********Eh8A');
  // The outcome is announced.
  await expect(page.getByRole('status')).toContainText('verified with Binance');

  await tabTo(page, 'A:Bots');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Bots', level: 1 })).toBeVisible();
  await hydrated(page);
  await tabTo(page, 'INPUT:Name');
  await page.keyboard.type('keyboard bot');
  await tabTo(page, 'INPUT:Symbol');
  await page.keyboard.type('BTCUSDT');
  await tabTo(page, 'BUTTON:Add bot');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('status')).toHaveText('Bot keyboard bot added.');
  // From the top of the page, as after arriving on it.
  await page.reload();
  await hydrated(page);
  await tabTo(page, 'BUTTON:New token');
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByTestId('new-token')).toHaveText(/^kwb_/);
  // The dialog has the focus and keeps it: Tab cycles through its own controls only.
  for (let i = 0; i < 8; i++) {
    expect(await page.evaluate(() => !!document.activeElement?.closest('dialog'))).toBe(true);
    await page.keyboard.press('Tab');
  }
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('New token');
});
