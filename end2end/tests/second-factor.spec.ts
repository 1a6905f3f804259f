// The second factor in the browser: set up on the Account page with the app's first code, the
// recovery codes shown once, then a sign-in that asks for a code (with JavaScript and without).
import { createHmac } from 'node:crypto';

import { expect, test, type Page } from '@playwright/test';

import { PASSWORD, hydrated, noSeriousViolations, registerAndSignIn } from './helpers';

/// What an authenticator app shows for a base32 secret, `steps` 30-second steps from now.
function totp(secret: string, steps = 0): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of secret.replace(/=+$/, '')) {
    bits += alphabet.indexOf(char).toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g)!.map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000) + steps));
  const digest = createHmac('sha1', key).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  const value = (digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, '0');
}

async function signOut(page: Page) {
  await page.goto('/');
  await hydrated(page);
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/login$/);
}

test('set up a second factor, then sign in with a code', async ({ page, browser }) => {
  const email = `totp-${Date.now()}@example.com`;
  await registerAndSignIn(page, email);
  await page.getByRole('link', { name: 'Account', exact: true }).click();
  await hydrated(page);
  await page.getByRole('button', { name: 'Set up a second factor' }).click();
  await expect(page.locator('.qr svg')).toBeVisible();
  const secret = (await page.getByTestId('totp-secret').textContent()) ?? '';
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  await noSeriousViolations(page, 'the second factor\'s setup');
  const first = totp(secret);
  await page.getByTestId('totp-confirm-code').fill(first);
  await page.getByRole('button', { name: 'Turn on' }).click();
  const codes = page.getByTestId('recovery-codes').getByRole('listitem');
  await expect(codes).toHaveCount(10);
  const recovery = (await codes.first().textContent()) ?? '';
  expect(recovery).toMatch(/^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/);
  await expect(page.getByTestId('second-factor-on')).toContainText('10 recovery codes left');
  await noSeriousViolations(page, 'the recovery codes');

  await signOut(page);
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('sign-in-code')).toBeFocused();
  await noSeriousViolations(page, 'the sign-in\'s code form');
  // The code that turned the factor on is spent: the next step's code signs in.
  await page.getByTestId('sign-in-code').fill(first);
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByRole('alert')).toContainText('not correct');
  await page.getByTestId('sign-in-code').fill(totp(secret, 1));
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByRole('heading', { name: 'Your Binance API key' })).toBeVisible();

  // Without JavaScript: the same two forms as plain posts, and a recovery code.
  const context = await browser.newContext({ javaScriptEnabled: false });
  const plain = await context.newPage();
  const urls: string[] = [];
  plain.on('request', (request) => urls.push(request.url()));
  await plain.goto('/login');
  await plain.getByLabel('Email').fill(email);
  await plain.getByLabel('Password').fill(PASSWORD);
  await plain.getByRole('button', { name: 'Sign in' }).click();
  await expect(plain).toHaveURL(/\/login\?second_factor$/);
  // A wrong code (the one already used) comes back to the same step with the error shown.
  await plain.getByTestId('sign-in-code').fill(first);
  await plain.getByRole('button', { name: 'Confirm' }).click();
  await expect(plain.getByRole('alert')).toContainText('not correct');
  await expect(plain).toHaveURL(/\/login\?second_factor&/);
  await plain.getByTestId('sign-in-code').fill(recovery);
  await plain.getByRole('button', { name: 'Confirm' }).click();
  await expect(plain.getByRole('heading', { name: 'Your Binance API key' })).toBeVisible();
  expect(urls.filter((url) => url.includes(recovery) || url.includes(PASSWORD))).toEqual([]);
  await context.close();
});
