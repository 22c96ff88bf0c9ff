/**
 * Headless Chromium for the dashboard tests: Debian's `chromium` driven by playwright-core
 * (`npx playwright install` cannot download browsers here). Screenshots go to
 * test/output/dashboard/.
 */
import { execFile } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from '../helpers/cli.js';

export const CHROMIUM = process.env.EDGEML_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(repoRoot, 'test', 'output', 'dashboard');

/** The bundle the hub serves; built here when `npm run build` has not made it yet. */
export async function ensureUiBuilt(): Promise<void> {
  const built = await access(join(repoRoot, 'hub', 'ui-dist', 'app.js')).then(() => true, () => false);
  if (!built) await promisify(execFile)(process.execPath, [join(repoRoot, 'hub', 'ui', 'build.mjs'), '--quiet'], { cwd: repoRoot });
}

export async function launch(): Promise<Browser> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await access(CHROMIUM).catch(() => {
    throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium; .ci/run does) or set EDGEML_CHROMIUM`);
  });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Open the dashboard and sign in with `token`; resolves once the fleet page shows. */
export async function signIn(browser: Browser, url: string, token: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(60_000);
  await page.goto(url);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Fleet', level: 2 }).waitFor();
  return page;
}

export const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
