import { expect, test, type Page } from '@playwright/test';

import { API_KEY, SECRET_KEY, addKey, hydrated, registerAndSignIn } from './helpers';

// Every page at a phone's width and a desktop's, light and dark: nothing wider than the screen,
// and a screenshot of each kept in test-results/screenshots/.
const WIDTHS = [375, 1280];
const SIGNED_IN = [
  { name: 'keys', path: '/', heading: 'Your Binance API key' },
  { name: 'bots', path: '/bots', heading: 'Bots' },
  { name: 'activity', path: '/activity', heading: 'Activity' },
  { name: 'account', path: '/account', heading: 'Your account' },
  { name: 'delete-key', path: '/key/delete', heading: 'Delete this API key?' },
];
const SIGNED_OUT = [
  { name: 'sign-in', path: '/login', heading: 'Sign in' },
  { name: 'register', path: '/register', heading: 'Create an account' },
];

async function fitsTheScreen(page: Page, width: number, shot: string) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: `test-results/screenshots/${shot}-${width}.png`, fullPage: true });
  expect(overflow, `${shot} is ${overflow} px wide at ${width} px`).toBeLessThanOrEqual(width);
}

async function visit(page: Page, path: string, heading: string) {
  await page.goto(path);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: heading })).toBeVisible();
}

test('every page and the delete dialog fit a phone and a desktop', async ({ page }) => {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 800 });
    for (const { name, path, heading } of SIGNED_OUT) {
      await visit(page, path, heading);
      await fitsTheScreen(page, width, name);
    }
  }
  await registerAndSignIn(page, `layout-${Date.now()}@example.com`);
  await addKey(page, API_KEY, SECRET_KEY, 'a label long enough to need wrapping on a phone');
  await expect(page.getByTestId('masked-key')).toBeVisible();
  // A bot with a token, so the Bots page shows a card, its token table and the header's stop.
  const origin = new URL(page.url()).origin;
  const created = await page.request.post('/api/v1/bot-configs', {
    data: { name: 'a bot with a name long enough to wrap', symbol: 'BTCUSDT' },
    headers: { origin },
  });
  expect(created.status()).toBe(201);
  const botId = (await created.json()).id;
  const issued = await page.request.post(`/api/v1/bot-configs/${botId}/tokens`, { data: {}, headers: { origin } });
  expect(issued.status()).toBe(201);
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 800 });
    for (const { name, path, heading } of SIGNED_IN) {
      await visit(page, path, heading);
      await fitsTheScreen(page, width, name);
    }
    await visit(page, '/', 'Your Binance API key');
    await page.getByRole('button', { name: 'Delete key' }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog).toBeVisible();
    await fitsTheScreen(page, width, 'delete-dialog');
    const box = await dialog.boundingBox();
    expect(box && box.x >= 0 && box.x + box.width <= width, `the dialog is within ${width} px`).toBe(true);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await visit(page, '/bots', 'Bots');
    await page.getByRole('button', { name: 'New token' }).click();
    const tokenDialog = page.getByRole('dialog');
    await expect(tokenDialog.getByTestId('new-token')).toBeVisible();
    await fitsTheScreen(page, width, 'new-token-dialog');
    const tokenBox = await tokenDialog.boundingBox();
    expect(tokenBox && tokenBox.x >= 0 && tokenBox.x + tokenBox.width <= width, `the token dialog is within ${width} px`).toBe(true);
    await tokenDialog.getByRole('button', { name: 'Done' }).click();
  }
});

test('a browser that prefers dark gets the dark theme', async ({ page }) => {
  const background = async () =>
    page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  const card = async () =>
    page.evaluate(() => getComputedStyle(document.querySelector('.card')!).backgroundColor);
  await page.emulateMedia({ colorScheme: 'light' });
  await visit(page, '/login', 'Sign in');
  expect(await background()).toBe('rgb(245, 247, 250)');
  expect(await card()).toBe('rgb(255, 255, 255)');
  await page.emulateMedia({ colorScheme: 'dark' });
  expect(await background()).toBe('rgb(18, 22, 28)');
  expect(await card()).toBe('rgb(28, 34, 43)');
  await page.screenshot({ path: 'test-results/screenshots/sign-in-dark.png', fullPage: true });
});

test('the header offers a signed-out visitor only sign-in and registration', async ({ page }) => {
  const links = page.getByRole('navigation', { name: 'Main' }).getByRole('link');
  await visit(page, '/login', 'Sign in');
  await expect(links).toHaveText(['Sign in', 'Register']);
  await links.filter({ hasText: 'Register' }).click();
  await expect(page.getByRole('heading', { name: 'Create an account' })).toBeVisible();
  await expect(links).toHaveText(['Sign in', 'Register']);
  await registerAndSignIn(page, `header-${Date.now()}@example.com`);
  await expect(links).toHaveText(['API key', 'Bots', 'Activity', 'Account']);
});
