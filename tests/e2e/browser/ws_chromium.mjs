// Opens a flowgate stream in Debian's Chromium (a real browser WebSocket, which offers
// permessage-deflate and masks its frames), and prints what it saw as one JSON line:
//   node ws_chromium.mjs 'ws://127.0.0.1:PORT/ws/community/1/updates?token=T' PAGE_URL COUNT
// From a page loaded from PAGE_URL (its origin is the WebSocket's Origin), it reads COUNT messages, sends the text "ping" and waits for "pong", closes with 1000, then
// reconnects with ?since=<seq of the 2nd message>&epoch=<its epoch> and reads what follows.
import { chromium } from 'playwright-core';

const [url, pageUrl, countText = '3'] = process.argv.slice(2);
const count = Number(countText);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  const result = await page.evaluate(async ({ url, count }) => {
    const open = (target) => new Promise((resolve, reject) => {
      const ws = new WebSocket(target);
      const inbox = [];
      let waiting = null;
      ws.onmessage = (e) => { inbox.push(e.data); if (waiting) { waiting(); waiting = null; } };
      ws.onerror = () => reject(new Error('WebSocket error on ' + target));
      ws.onopen = () => resolve({
        ws,
        extensions: ws.extensions,
        next: (ms = 15000) => new Promise((ok, fail) => {
          if (inbox.length) return ok(inbox.shift());
          const timer = setTimeout(() => fail(new Error('no message within ' + ms + ' ms')), ms);
          waiting = () => { clearTimeout(timer); ok(inbox.shift()); };
        }),
      });
    });
    const first = await open(url);
    const messages = [];
    while (messages.length < count) {
      const text = await first.next();
      const event = JSON.parse(text);
      if (event.type === 'TELEMETRY_UPDATE') messages.push(event);
    }
    first.ws.send('ping');
    let pong = false;
    for (let i = 0; i < 1000 && !pong; ++i) pong = (await first.next()) === 'pong';
    const closed = new Promise((ok) => { first.ws.onclose = (e) => ok({ code: e.code, clean: e.wasClean }); });
    first.ws.close(1000, 'done');
    const close = await closed;

    const from = messages[1];
    const resume = new URL(url);
    resume.searchParams.set('since', from.seq);
    resume.searchParams.set('epoch', from.epoch);
    const again = await open(resume.toString());
    const recovery = JSON.parse(await again.next());
    const resumed = [];
    while (resumed.length < count) resumed.push(JSON.parse(await again.next()).seq);
    again.ws.close(1000);
    return { extensions: first.extensions, messages, pong, close, recovery, resumed };
  }, { url, count });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
