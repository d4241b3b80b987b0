// The wall dashboard (web/, served by the daemon at /) in Debian's Chromium, as an operator
// would leave it open:
//   node dashboard_chromium.mjs DASHBOARD_URL SIM_URL STEP_DIR SCREENSHOT
// It checks that the cards appear, that a new simulator entry of OHT-1 (channel 2100101) shows
// on its card within 2 s with its calibrated value, and that Sump-1 (channel 2100103, which
// the test stops) turns Offline. Then it prints {"step":"restart"} and waits for STEP_DIR/restarted
// while the test restarts the daemon: the page must say it is reconnecting, then be live again
// with what it missed recovered. It saves a screenshot and prints its figures as one JSON line.
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [dashboardUrl, simUrl, stepDir, screenshot] = process.argv.slice(2);
const sim = async (path, body) => {
  const res = await fetch(simUrl + path, body ? { method: 'POST', body: JSON.stringify(body) } : {});
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const result = {};

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(dashboardUrl);
  await page.waitForFunction(() => document.querySelectorAll('.card').length === 8, null, { timeout: 15000 });
  result.cards = await page.$$eval('.card h2', (hs) => hs.map((h) => h.textContent));
  result.token_left_in_address_bar = new URL(page.url()).searchParams.has('token');
  await page.waitForFunction(() => document.body.dataset.connection === 'live', null, { timeout: 10000 });

  // A new entry in the simulator, then on OHT-1's card, with its value x 0.01 (cm to m).
  const entryOf = () => page.$eval('.card[data-node-id="1"]', (c) => Number(c.dataset.entryId || 0));
  const shown = await entryOf();
  let next;
  for (;;) {
    next = await sim('/channels/2100101/feeds/last.json');
    if (next.entry_id > shown) break;
    await sleep(20);
  }
  const seenAt = Date.now();
  await page.waitForFunction((id) => Number(document.querySelector('.card[data-node-id="1"]').dataset.entryId || 0) >= id,
    next.entry_id, { timeout: 10000, polling: 20 });
  result.change_ms = Date.now() - seenAt;
  const card = await page.$eval('.card[data-node-id="1"]', (c) => ({
    entry: Number(c.dataset.entryId),
    value: Number(c.querySelector('.metric[data-metric="water_level"] .value').dataset.value),
    text: c.querySelector('.metric[data-metric="water_level"] .value').textContent,
    unit: c.querySelector('.metric[data-metric="water_level"] .unit').textContent,
    fill: c.querySelector('.fill-text').textContent,
    spark: c.querySelector('.metric[data-metric="water_level"] polyline').getAttribute('points').split(' ').length,
  }));
  const entry = await sim(`/channels/2100101/feeds/${card.entry}.json`);
  result.oht = { ...card, expected: Number(entry.field1) * 0.01 };

  // Sump-1 stops posting (its next entry a simulated week away): Offline on its card.
  await sim('/_sim/channels/2100103/interval', { seconds: 604800 });
  const stoppedAt = Date.now();
  await page.waitForFunction(() => document.querySelector('.card[data-node-id="3"]').dataset.status === 'offline',
    null, { timeout: 60000 });
  result.offline_ms = Date.now() - stoppedAt;
  result.offline_text = await page.$eval('.card[data-node-id="3"] .status', (s) => s.textContent);

  // The daemon restarts under the page.
  console.log(JSON.stringify({ step: 'restart' }));
  await page.waitForFunction(() => document.body.dataset.connection === 'reconnecting', null, { timeout: 20000 });
  result.reconnecting_text = await page.$eval('#connection', (e) => e.textContent);
  while (!existsSync(`${stepDir}/restarted`)) await sleep(50);
  await page.waitForFunction(() => document.body.dataset.connection === 'live' && /^reconnected/.test(
    document.getElementById('note').textContent), null, { timeout: 30000 });
  result.note = await page.$eval('#note', (e) => e.textContent);
  const before = await entryOf();
  await page.waitForFunction((id) => Number(document.querySelector('.card[data-node-id="1"]').dataset.entryId) > id,
    before, { timeout: 20000 });
  result.live_after_restart = true;
  await page.screenshot({ path: screenshot, fullPage: true });
  result.errors = errors;
} finally {
  console.log(JSON.stringify(result));
  await browser.close();
}
