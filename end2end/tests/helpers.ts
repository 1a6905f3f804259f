// What the browser tests share: the demo key pair, a password, and the steps every test takes.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';

// Binance's official example key pair, which the fake exchange knows.
export const API_KEY = 'vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A';
export const SECRET_KEY = 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j';
export const PASSWORD = 'correct horse battery';

export async function hydrated(page: Page) {
  await expect(page.locator('.app[data-hydrated="true"]')).toBeVisible();
}

export async function registerAndSignIn(page: Page, email: string) {
  await page.goto('/register');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel(/^Password/).fill(PASSWORD);
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page.getByRole('status')).toContainText(`Account created for ${email}`);

  await page.getByRole('link', { name: 'Sign in' }).first().click();
  await expect(page).toHaveURL(/\/login$/);
  await signInHere(page, email);
}

export async function signIn(page: Page, email: string) {
  await page.goto('/login');
  await signInHere(page, email);
}

export async function signInHere(page: Page, email: string) {
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your Binance API key' })).toBeVisible();
}

export async function addKey(page: Page, apiKey: string, secretKey: string, label: string) {
  await page.getByLabel('API key').fill(apiKey);
  await page.getByLabel('Secret key').fill(secretKey);
  await page.getByLabel('Label (optional)').fill(label);
  await page.getByRole('button', { name: 'Add key' }).click();
}

/// axe-core on the page as it is: no serious or critical violation.
export async function noSeriousViolations(page: Page, what: string) {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(serious, `axe on ${what}`).toEqual([]);
}
