/**
 * The dashboard in a real browser (headless Chromium) against a hub with real agent processes:
 * the fleet page lists every device with its version, a rollout started from the CLI appears
 * without a reload, the page's rollback action takes the devices back, and an operator token
 * only looks. Each page's screenshot is written to test/output/dashboard/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { newApiToken } from '@edgeml/hub';
import { edgeml } from '../helpers/cli.js';
import { irisModel, publishModel, waitFor } from '../helpers/fleet.js';
import { ensureUiBuilt, launch, shot, signIn } from './browser.js';
import { onVersion, startDashFleet, traffic, type DashFleet } from './fleet.js';

let f: DashFleet;
let browser: Browser;
let admin: Page;
let operatorToken: string;

const versionCell = (page: Page, id: string) => page.locator(`tr[data-device="${id}"] td[data-col="version"]`);

beforeAll(async () => {
  await ensureUiBuilt();
  f = await startDashFleet(3, 'dash');
  const op = newApiToken('operator');
  const now = new Date();
  f.t.hub.registry.tokens.addApiToken({ id: op.id, kind: 'operator', secretHash: op.secretHash, label: 'dashboard test', expiresAt: new Date(now.getTime() + 3_600_000), now });
  operatorToken = op.token;
  browser = await launch();
  admin = await signIn(browser, f.t.hub.dashboardUrl!, f.t.hub.adminToken);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await f?.stop();
});

describe('dashboard', () => {
  it('shows every device with the version it runs', async () => {
    for (const id of f.ids) await expect.poll(() => versionCell(admin, id).textContent(), { timeout: 30_000 }).toBe('v1');
    await expect.poll(() => admin.getByTestId('fleet-summary').textContent(), { timeout: 30_000 }).toMatch(/^3 devices · 3 online · 3 converged · 0 failed$/);
    // Served traffic and feedback reach the page's figures (the 15 s refresh, or a status change).
    await Promise.all(f.agents.map((a) => traffic(a)));
    await admin.reload();
    await expect.poll(() => admin.locator(`tr[data-device="${f.ids[0]!}"] td[data-col="accuracy"]`).textContent(), { timeout: 60_000, interval: 1000 }).toMatch(/%$/);
    await shot(admin, 'fleet');
    // Usable at phone width: nothing wider than the screen but the table's own scroll box.
    const phone = await signIn(browser, f.t.hub.dashboardUrl!, f.t.hub.adminToken, { width: 390, height: 844 });
    await versionCell(phone, f.ids[0]!).waitFor();
    expect(await phone.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await shot(phone, 'fleet-phone');
    await phone.close();
  });

  it('shows a rollout started from the CLI as it happens, without a reload', async () => {
    await admin.goto(`${f.t.hub.dashboardUrl!}#rollouts`);
    await admin.getByTestId('no-live-rollouts').waitFor();
    await admin.evaluate('window.marker = 42');
    const v2 = await publishModel(f.t.hub, await irisModel(), { stage: true });
    const r = await edgeml(['rollout', 'iris', String(v2.version), '--canary', '1', '--waves', '50%,100%', '--soak', '2s', '--no-benchmark', '--json', '--hub', f.t.hub.httpUrl!, '--token', f.t.hub.adminToken]);
    expect(r.stderr).toBe('');
    const { id } = JSON.parse(r.stdout) as { id: number };
    const card = admin.locator(`[data-rollout="${id}"]`);
    await card.waitFor();
    await shot(admin, 'rollouts');
    await expect.poll(() => card.getByTestId('rollout-state').textContent(), { timeout: 90_000 }).toBe('completed');
    // Same page object all along: the stream brought it, not a reload.
    expect(await admin.evaluate('window.marker')).toBe(42);
    await onVersion(f.t, f.ids, v2.version);
    await admin.goto(`${f.t.hub.dashboardUrl!}#fleet`);
    for (const d of f.ids) await expect.poll(() => versionCell(admin, d).textContent(), { timeout: 30_000 }).toBe(`v${v2.version}`);
  });

  it('rolls the devices back from the page with an admin token', async () => {
    await admin.goto(`${f.t.hub.dashboardUrl!}#models`);
    await admin.locator('tr[data-version="2"]').waitFor();
    await admin.getByRole('button', { name: 'Roll back iris' }).click();
    await admin.getByRole('button', { name: 'Confirm' }).click();
    await onVersion(f.t, f.ids, 1);
    await expect.poll(() => admin.locator('tr[data-version="2"] td.status').textContent(), { timeout: 30_000 }).toBe('rolled-back');
    await shot(admin, 'models');
    await admin.goto(`${f.t.hub.dashboardUrl!}#fleet`);
    for (const d of f.ids) await expect.poll(() => versionCell(admin, d).textContent(), { timeout: 30_000 }).toBe('v1');
    await admin.goto(`${f.t.hub.dashboardUrl!}#events`);
    await admin.locator('[data-event="release.rolled-back"]').first().waitFor();
    await shot(admin, 'events');
    await admin.goto(`${f.t.hub.dashboardUrl!}#charts`);
    await admin.getByRole('heading', { name: 'Charts' }).waitFor();
    await shot(admin, 'charts');
  });

  it('lets an operator token look but not act', async () => {
    const page = await signIn(browser, f.t.hub.dashboardUrl!, operatorToken);
    expect(await page.getByTestId('token-kind').textContent()).toBe('operator (read-only)');
    await page.goto(`${f.t.hub.dashboardUrl!}#models`);
    await page.locator('tr[data-version="1"]').waitFor();
    expect(await page.getByRole('button', { name: /Roll back/ }).count()).toBe(0);
    // The hub is what refuses: the same request from the page with the operator token is a 403.
    const status = await page.evaluate(async (token) => (await fetch('/v1/rollback', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"model":"iris"}' })).status, operatorToken);
    expect(status).toBe(403);
    // And no token at all reads nothing.
    expect(await page.evaluate(async () => (await fetch('/v1/fleet')).status)).toBe(401);
    await waitFor('devices still on v1', () => (f.t.hub.registry.listDevices().every((d) => d.version === 1) ? true : undefined), 5_000);
    await page.close();
  });
});
