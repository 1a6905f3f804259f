import { expect, test } from '@playwright/test';

import { API_KEY, SECRET_KEY, addKey, hydrated, registerAndSignIn, signIn } from './helpers';

test('register, sign in, add a key, see it masked, delete it through the dialog', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await registerAndSignIn(page, `trader-${Date.now()}@example.com`);

  await addKey(page, API_KEY, SECRET_KEY, 'main account');
  await expect(page.getByRole('status')).toContainText('verified with Binance');
  await expect(page.getByTestId('masked-key')).toHaveText('vmPU********Eh8A');
  await expect(page.getByLabel('Label', { exact: true })).toHaveValue('main account');
  await expect(page.getByTestId('stored-key')).toContainText('valid');
  const html = await page.content();
  expect(html).not.toContain(SECRET_KEY);
  expect(html).not.toContain(API_KEY);

  await page.getByRole('button', { name: 'Check again' }).click();
  await expect(page.getByRole('status')).toHaveText('Binance accepts the key.');
  await expect(page.getByTestId('last-checked').locator('time')).toHaveAttribute('title', /UTC$/);

  await page.getByRole('button', { name: 'Show balances' }).click();
  await expect(page.getByRole('table')).toContainText('1000.00000000');
  await page.screenshot({ path: 'test-results/api-keys-page.png', fullPage: true });

  // The key survives a reload: it is stored, and the page renders it on the server too.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('masked-key')).toHaveText('vmPU********Eh8A');

  // A bot configuration made over REST with the browser's session shows up in the dialog.
  // The session cookie alone does not make a change: the request must come from the app's origin.
  const data = { name: 'grid bot', symbol: 'BTCUSDT' };
  const crossSite = await page.request.post('/api/v1/bot-configs', { data, headers: { origin: 'https://evil.example' } });
  expect(crossSite.status()).toBe(403);
  const origin = new URL(page.url()).origin;
  const config = await page.request.post('/api/v1/bot-configs', { data, headers: { origin } });
  expect(config.status()).toBe(201);
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('bot-config-count')).toHaveText('1');

  await page.getByLabel('Label', { exact: true }).fill('renamed account');
  await page.getByRole('button', { name: 'Rename' }).click();
  await expect(page.getByRole('status')).toHaveText('Label saved.');

  await page.getByRole('button', { name: 'Delete key' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByTestId('doomed-configs')).toHaveText('grid bot (BTCUSDT)');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.getByTestId('masked-key')).toBeVisible();

  await page.getByRole('button', { name: 'Delete key' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByRole('status')).toContainText('Key deleted');
  await expect(page.getByTestId('masked-key')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Add key' })).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('button', { name: 'Add key' })).toBeVisible();
  expect(errors).toEqual([]);
});

test("a key Binance rejects shows Binance's message and is not stored", async ({ page }) => {
  await registerAndSignIn(page, `rejected-${Date.now()}@example.com`);
  await addKey(page, 'B'.repeat(64), SECRET_KEY, 'unknown key');
  await expect(page.getByRole('alert').locator('.detail')).toHaveText(
    'Invalid API-key, IP, or permissions for action.',
  );
  await expect(page.getByRole('alert')).toContainText("this server's address");
  await expect(page.getByTestId('masked-key')).toHaveCount(0);
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('button', { name: 'Add key' })).toBeVisible();
});

test('the keys page sends a signed-out visitor to sign in', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
});

test('an Ed25519 key shows its type, permissions and warnings', async ({ page }) => {
  // Binance's published Ed25519 example key; the fake exchange knows its public half.
  const ed25519ApiKey = 'sBRXrJx2DsOraMXOaUovEhgVRcjOvCtQwnWj8VxkOh1xqboS02SPGfKi2h8spZJb';
  const ed25519Pem =
    '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n-----END PRIVATE KEY-----\n';
  await registerAndSignIn(page, `ed25519-${Date.now()}@example.com`);
  await addKey(page, ed25519ApiKey, ed25519Pem, 'ed25519 bot');
  await expect(page.getByTestId('masked-key')).toHaveText('sBRX********pZJb');
  await expect(page.getByTestId('key-type')).toHaveText('Ed25519 · mainnet');
  await expect(page.getByTestId('permissions')).toHaveText('reading, spot trading');
  await expect(page.getByTestId('warnings')).toContainText('works from any IP address');
  // The addresses the operator set in KEYWARDEN_EGRESS_IPS (playwright.config.ts).
  await expect(page.getByTestId('warnings')).toContainText('restrict it to exactly 203.0.113.7');
  await expect(page.getByTestId('trading-expiry')).toContainText(/trading permission expires in (29|30) days/);
  await page.screenshot({ path: 'test-results/ed25519-key.png', fullPage: true });
  await page.getByRole('button', { name: 'Delete key' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByRole('button', { name: 'Add key' })).toBeVisible();
});

test('the Activity page lists what happened to the account, failed sign-ins included', async ({ page, request }) => {
  const email = `activity-${Date.now()}@example.com`;
  await registerAndSignIn(page, email);
  // Someone else tries the account with a wrong password.
  const wrong = await request.post('/api/v1/auth/login', { data: { email, password: 'not the password' } });
  expect(wrong.status()).toBe(401);
  await addKey(page, API_KEY, SECRET_KEY, 'main account');
  await expect(page.getByRole('status')).toContainText('verified with Binance');

  await page.getByRole('link', { name: 'Activity' }).click();
  await expect(page).toHaveURL(/\/activity$/);
  const rows = page.getByTestId('activity').locator('tbody tr');
  await expect(rows).toHaveCount(4);
  await expect(rows.nth(0)).toContainText('API key added');
  await expect(rows.nth(0)).toContainText('succeeded');
  await expect(rows.nth(1)).toContainText('Sign-in');
  await expect(rows.nth(1)).toContainText('failed: invalid credentials');
  await expect(rows.nth(2)).toContainText('Sign-in');
  await expect(rows.nth(3)).toContainText('Account created');
  await expect(rows.nth(3)).toContainText('127.0.0.1');
  await page.screenshot({ path: 'test-results/activity-page.png', fullPage: true });
});

test('signing out everywhere from one browser ends the other browser\'s session', async ({ browser }) => {
  const email = `everywhere-${Date.now()}@example.com`;
  const first = await browser.newContext();
  const second = await browser.newContext();
  const one = await first.newPage();
  const two = await second.newPage();
  await registerAndSignIn(one, email);
  await signIn(two, email);

  await one.getByRole('link', { name: 'Account' }).click();
  await expect(one).toHaveURL(/\/account$/);
  await expect(one.getByTestId('account-email')).toHaveText(email);
  await expect(one.getByTestId('sessions').locator('tbody tr')).toHaveCount(2);
  await expect(one.getByTestId('current-session')).toHaveCount(1);
  await one.screenshot({ path: 'test-results/account-page.png', fullPage: true });

  await one.getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(one).toHaveURL(/\/login$/);
  await two.reload();
  await expect(two).toHaveURL(/\/login$/);
  await first.close();
  await second.close();
});

test('labels holding HTML or SQL are shown as text and run nothing', async ({ page }) => {
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await registerAndSignIn(page, `hostile-${Date.now()}@example.com`);
  const label = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'; DROP TABLE api_keys; --`;
  await addKey(page, API_KEY, SECRET_KEY, label);
  await expect(page.getByRole('status')).toContainText('verified with Binance');
  await expect(page.getByLabel('Label', { exact: true })).toHaveValue(label);
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel('Label', { exact: true })).toHaveValue(label);
  await page.getByRole('button', { name: 'Delete key' }).click();
  await expect(page.getByRole('dialog')).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(pageErrors).toEqual([]);
});
