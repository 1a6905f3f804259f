import { defineConfig } from '@playwright/test';

// The server and the fake exchange are started fresh for every run; the keys page is kept as
// a screenshot in test-results/.
const port = Number(process.env.E2E_PORT ?? 3010);
const exchangePort = Number(process.env.E2E_EXCHANGE_PORT ?? 3910);
const dataDir = 'test-results/data';
// `make e2e-release` runs the same tests against the release build.
const serverBin = process.env.E2E_SERVER_BIN ?? '../target/debug/keywarden';

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  workers: 1,
  reporter: [['list']],
  outputDir: 'test-results/output',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: [
    {
      command: `../target/debug/fake-exchange 127.0.0.1:${exchangePort}`,
      port: exchangePort,
      reuseExistingServer: false,
    },
    {
      command: `rm -rf ${dataDir} && mkdir -p ${dataDir} && ${serverBin} serve`,
      url: `http://127.0.0.1:${port}/login`,
      reuseExistingServer: false,
      timeout: 60_000,
      env: {
        KEYWARDEN_ADDR: `127.0.0.1:${port}`,
        KEYWARDEN_DATA_DIR: dataDir,
        BINANCE_BASE_URL: `http://127.0.0.1:${exchangePort}`,
        LEPTOS_SITE_ROOT: '../target/site',
        RUST_LOG: 'info',
        // Every test registers its own account from the one address.
        KEYWARDEN_REGISTRATIONS_PER_IP: '100',
        KEYWARDEN_EGRESS_IPS: '203.0.113.7',
        // The tests' webhook receivers listen on loopback.
        KEYWARDEN_WEBHOOK_ALLOW_PRIVATE: 'true',
      },
    },
  ],
});
