// Signing in and adding, checking and deleting a key work as plain POST forms, through the same
// server functions, before the WebAssembly has loaded or with JavaScript off; nothing secret
// ever lands in a URL.
import { expect, test } from '@playwright/test';
import { API_KEY, PASSWORD, SECRET_KEY, hydrated } from './helpers';

test.describe('with JavaScript off', () => {
  test.use({ javaScriptEnabled: false });

  test('register, sign in, add, check and delete a key', async ({ page }) => {
    const email = `nojs-${Date.now()}@example.com`;
    const urls: string[] = [];
    page.on('request', (request) => urls.push(request.url()));

    await page.goto('/register');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel(/^Password/).fill(PASSWORD);
    await page.getByRole('button', { name: 'Register' }).click();
    await expect(page).toHaveURL(/\/login\?registered$/);
    await expect(page.getByRole('status')).toContainText('Account created');

    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toContainText(/email or password/i);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('heading', { name: 'Your Binance API key' })).toBeVisible();

    // A pair Binance refuses: the reason shows, the form is back, nothing was stored.
    const wrongSecret = 'W'.repeat(64);
    await page.getByLabel('API key').fill(API_KEY);
    await page.getByLabel('Secret key').fill(wrongSecret);
    await page.getByRole('button', { name: 'Add key' }).click();
    await expect(page.getByRole('alert')).toBeVisible();
    await expect(page.getByRole('button', { name: 'Add key' })).toBeVisible();

    await page.getByLabel('API key').fill(API_KEY);
    await page.getByLabel('Secret key').fill(SECRET_KEY);
    await page.getByLabel('Label (optional)').fill('no script');
    await page.getByRole('button', { name: 'Add key' }).click();
    await expect(page.getByTestId('masked-key')).toHaveText('vmPU********Eh8A');
    await expect(page.getByTestId('last-checked')).toContainText('just now');

    await page.getByRole('button', { name: 'Check again' }).click();
    await expect(page.getByTestId('validity')).toHaveText('valid');
    await expect(page.getByTestId('last-checked')).toContainText('just now');

    await page.getByRole('button', { name: 'Delete key' }).click();
    await expect(page).toHaveURL(/\/key\/delete\??$/);
    await expect(page.getByRole('heading', { name: 'Delete this API key?' })).toBeVisible();
    await expect(page.getByText('No bot configuration uses this key.')).toBeVisible();
    await page.getByRole('button', { name: 'Delete' }).click();
    await expect(page).toHaveURL(/\/\?deleted$/);
    await expect(page.getByRole('status')).toContainText('Key deleted');
    await expect(page.getByRole('button', { name: 'Add key' })).toBeVisible();

    for (const url of urls) {
      for (const secret of [PASSWORD, SECRET_KEY, wrongSecret, API_KEY]) {
        expect(url).not.toContain(encodeURIComponent(secret));
        expect(url).not.toContain(secret);
      }
    }
  });
});

test('a click before the WebAssembly loads still registers and signs in', async ({ page }) => {
  const email = `early-${Date.now()}@example.com`;
  // Hold the WebAssembly back until the forms were sent.
  let releaseWasm = () => {};
  const wasmHeld = new Promise<void>((resolve) => (releaseWasm = resolve));
  await page.route('**/*.wasm', async (route) => {
    await wasmHeld;
    await route.continue();
  });

  await page.goto('/register');
  await expect(page.locator('.app[data-hydrated="true"]')).toHaveCount(0);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel(/^Password/).fill(PASSWORD);
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page).toHaveURL(/\/login\?registered$/);
  await expect(page.getByRole('status')).toContainText('Account created');

  await expect(page.locator('.app[data-hydrated="true"]')).toHaveCount(0);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your Binance API key' })).toBeVisible();
  await expect(page.locator('body')).not.toContainText('cross_site_request');

  // Once the WebAssembly arrives, the page it renders is the same signed-in page.
  releaseWasm();
  await hydrated(page);
  await expect(page.getByRole('button', { name: 'Add key' })).toBeVisible();
});
