// The Account page's alerts with a real receiver: a webhook added, its secret shown once, a
// signed test delivery in its log, then deleted; and the key's banner on every page.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

import { expect, test } from '@playwright/test';

import { API_KEY, SECRET_KEY, addKey, hydrated, registerAndSignIn } from './helpers';

type Received = { headers: IncomingHttpHeaders; body: string };

/// A webhook receiver on loopback answering 200 to every POST.
async function receiver() {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      response.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, received, close: () => server.close() };
}

test('a webhook from the Account page: secret once, a signed test, its log, deleted', async ({ page }) => {
  const hook = await receiver();
  const email = `alerts-${Date.now()}@example.com`;
  await registerAndSignIn(page, email);
  await addKey(page, API_KEY, SECRET_KEY, 'main');
  await expect(page.getByTestId('masked-key')).toBeVisible();

  // The demo key works from any address: every page says so until it is restricted.
  for (const [link, heading] of [['Bots', 'Bots'], ['Activity', 'Activity'], ['Account', 'Your account']]) {
    await page.getByRole('link', { name: link, exact: true }).click();
    await expect(page.getByRole('heading', { name: heading, level: 1 })).toBeVisible();
    await expect(page.getByTestId('key-banner')).toContainText('works from any IP address');
  }
  await hydrated(page);
  await expect(page.getByTestId('email-alerts')).toHaveText('This server does not send email.');
  await expect(page.getByText('No webhook yet.')).toBeVisible();

  await page.getByLabel('Webhook URL').fill(hook.url);
  await page.getByLabel('a sign-in from a new address').uncheck();
  await page.getByRole('button', { name: 'Add webhook' }).click();
  const dialog = page.getByRole('dialog');
  const secret = (await dialog.getByTestId('webhook-secret').textContent()) ?? '';
  expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{40,}$/);
  expect(await page.evaluate(() => !!document.activeElement?.closest('dialog'))).toBe(true);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(dialog).toHaveCount(0);
  const webhook = page.getByTestId('webhooks').getByRole('listitem');
  await expect(webhook).toContainText(hook.url);
  await expect(webhook).toContainText('every bot was paused');
  await expect(webhook).not.toContainText('a sign-in from a new address');
  expect(await page.content()).not.toContain(secret);

  await webhook.getByRole('button', { name: 'Send a test' }).click();
  await expect(page.getByRole('status')).toContainText(/Test alert evt_\S+ queued\./);
  await expect.poll(() => hook.received.length).toBe(1);
  const delivery = hook.received[0];
  const [t, v1] = String(delivery.headers['keywarden-signature']).split(',').map((part) => part.split('=')[1]);
  const expected = createHmac('sha256', secret).update(`${t}.${delivery.body}`).digest('hex');
  expect(v1).toBe(expected);
  expect(JSON.parse(delivery.body).type).toBe('webhook.test');

  const log = webhook.getByTestId('deliveries');
  await expect(async () => {
    await webhook.getByRole('button', { name: 'Refresh' }).click();
    await expect(log).toContainText('delivered (200)', { timeout: 1000 });
  }).toPass();
  await expect(log).toContainText(JSON.parse(delivery.body).id);

  await webhook.getByRole('button', { name: 'Delete' }).click();
  await expect(dialog).toContainText(hook.url);
  await dialog.getByRole('button', { name: 'Delete webhook' }).click();
  await expect(page.getByRole('status')).toHaveText('Webhook deleted.');
  await expect(page.getByText('No webhook yet.')).toBeVisible();
  hook.close();
});
