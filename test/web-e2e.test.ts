// End to end: the page at `/` in Debian's Chromium, driven by playwright-core, against the real server (the
// `npm start` entry point, its engine and default model) started with an API key. What a person sees is kept
// as screenshots in test-artifacts/web/. `npm test` installs /usr/bin/chromium; run alone outside CI without it,
// this test is skipped.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { listen, startServer } from './helpers/server.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');
const KEY = 'e2e-key';
const DESKTOP = { width: 1200, height: 900 };
const PHONE = { width: 390, height: 844 };

const skip =
  !existsSync(CHROMIUM) && !process.env.CI
    ? `${CHROMIUM} is missing (apt-get install chromium); in CI this fails instead`
    : false;

async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** `node src/main.ts` (what `npm start` runs) on an ephemeral port; resolves with its base URL once ready. */
async function startRealServer(): Promise<{ child: ChildProcess; url: string }> {
  const args = ['--import', 'tsx', 'src/main.ts', '--host', '127.0.0.1', '--port', '0', '--api-key', KEY];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${tail.join('')}`)), 120_000);
    const onData = (data: Buffer) => {
      tail.push(data.toString());
      if (tail.length > 50) tail.shift();
      const address = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(data.toString());
      if (address) {
        clearTimeout(timer);
        resolve(address[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited (${code}):\n${tail.join('')}`)));
  });
  // It listens before the model is loaded; /health is 200 once it is.
  for (let i = 0; (await fetch(`${url}/health`)).status !== 200; i++) {
    if (i > 600) throw new Error('the model did not load in time');
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, url };
}

/** A small picture to ask about: sun, sky and grass. */
const picture = () =>
  sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128"><rect width="128" height="80" fill="#7ec8f0"/>` +
        `<rect y="80" width="128" height="48" fill="#3b9c3b"/><circle cx="92" cy="32" r="18" fill="#ffd23a"/></svg>`,
    ),
  )
    .png()
    .toBuffer();

/** Runs `child` for `onMs` out of every `onMs + offMs` (SIGSTOP/SIGCONT); returns the function that ends it. */
function throttle(child: ChildProcess, onMs: number, offMs: number): () => void {
  let timer: NodeJS.Timeout;
  const stop = () => {
    child.kill('SIGSTOP');
    timer = setTimeout(run, offMs);
  };
  const run = () => {
    child.kill('SIGCONT');
    timer = setTimeout(stop, onMs);
  };
  timer = setTimeout(stop, onMs);
  return () => {
    clearTimeout(timer);
    child.kill('SIGCONT');
  };
}

/** For locator.evaluate on an <img> (typed loosely: this project's TypeScript has no DOM library). */
const naturalWidth = (img: unknown) => (img as { naturalWidth: number }).naturalWidth;

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });

describe('web page in Chromium against the real server', { skip, timeout: 300_000 }, () => {
  let server: { child: ChildProcess; url: string };
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Every URL the page requested, to prove it never leaves this server. */
  const requested: string[] = [];
  const pageErrors: string[] = [];
  /** How long the model takes per image, measured by the first generation test. */
  let msPerImage = 0;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`CI is set and ${CHROMIUM} is missing; npm test installs it`);
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    [server, browser] = await Promise.all([startRealServer(), launchBrowser()]);
    context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
    page = await context.newPage();
    await page.addInitScript({ path: join(ROOT, 'test', 'helpers', 'web-probes.js') });
    page.on('request', (r) => requested.push(r.url()));
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  after(async () => {
    await browser?.close();
    server?.child.kill('SIGCONT');
    server?.child.kill('SIGTERM');
  });

  test('asks for the API key the server requires, and says when it is wrong', async () => {
    await page.goto(server.url);
    const status = page.locator('#key-status');
    await status.getByText('This server needs an API key.').waitFor();
    assert.equal(await page.evaluate('document.activeElement.id'), 'api-key');
    await page.fill('#api-key', 'not-the-key');
    await page.keyboard.press('Enter');
    await status.getByText(/refused this key: Incorrect API key provided/).waitFor();
    await shot(page, 'desktop-api-key-refused.png');
    await page.fill('#api-key', KEY);
    await page.keyboard.press('Enter');
    await page
      .locator('#model-info')
      .getByText(/^Model .+ visual tokens of \d+ codes$/)
      .waitFor();
    await status.getByText('Key accepted.').waitFor();
  });

  test('chat: attach an image, ask about it, and follow up (multi-turn)', async () => {
    const bodies: { messages: { role: string; content: unknown }[] }[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/v1/chat/completions')) bodies.push(r.postDataJSON());
    });
    // Drop and paste attach too; remove those two by keyboard, then attach with the file picker.
    const png = (await picture()).toString('base64');
    await page.evaluate(`e2e.dropAndPaste(${JSON.stringify(png)})`);
    await page.locator('#attachments img').nth(1).waitFor();
    for (let i = 0; i < 2; i++) {
      await page.locator('#attachments .remove').first().focus();
      await page.keyboard.press('Enter');
    }
    assert.equal(await page.locator('#attachments li').count(), 0);

    await page.setInputFiles('#chat-file', {
      name: 'sun.png',
      mimeType: 'image/png',
      buffer: await picture(),
    });
    await page.locator('#attachments img').waitFor();
    await page.fill('#chat-input', 'What is in this picture?');
    await page.keyboard.press('Enter');
    const firstReply = page.locator('.message.assistant').nth(0);
    await firstReply.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    const userImage = page.locator('.message.user img').first();
    assert.ok((await userImage.evaluate(naturalWidth)) > 0, 'image shown inline');
    assert.ok(((await firstReply.textContent()) ?? '').trim().length > 0, 'a streamed answer');

    await page.fill('#chat-input', 'And what colour is the sky?');
    await page.keyboard.press('Enter');
    await page.locator('.message.assistant[data-state="done"]').nth(1).waitFor({ timeout: 60_000 });
    await shot(page, 'desktop-chat-vqa.png');

    assert.equal(bodies.length, 2);
    assert.equal(bodies[0].messages.length, 1);
    const [firstUser, firstAnswer, second] = bodies[1].messages;
    assert.deepEqual(
      bodies[1].messages.map((m) => m.role),
      ['user', 'assistant', 'user'],
      'the follow-up carries the conversation',
    );
    assert.match(JSON.stringify(firstUser.content), /data:image\/png;base64,/);
    assert.equal(typeof firstAnswer.content, 'string');
    assert.equal(second.content, 'And what colour is the sky?');
  });

  test('chat: an image the model draws is shown inline, and can be asked about', async () => {
    await page.click('#chat-new');
    await page.check('#chat-image-reply');
    await page.fill('#chat-input', 'a yellow sun over green grass');
    await page.keyboard.press('Enter');
    const drawn = page.locator('.message.assistant[data-state="done"] img');
    await drawn.waitFor({ timeout: 60_000 });
    assert.ok((await drawn.evaluate(naturalWidth)) > 0);
    await page.uncheck('#chat-image-reply');
    const followUp = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
    await page.fill('#chat-input', 'What did you draw?');
    await page.keyboard.press('Enter');
    const { messages } = (await followUp).postDataJSON();
    assert.match(JSON.stringify(messages[1]), /"role":"assistant","content":\[\{"type":"image_url"/);
    await page.locator('.message.assistant[data-state="done"]').nth(1).waitFor({ timeout: 60_000 });
    await shot(page, 'desktop-chat-image-reply.png');
  });

  test('chat: a corrupt image upload is reported to the person', async () => {
    await page.click('#chat-new');
    const corrupt = Buffer.concat([(await picture()).subarray(0, 40), Buffer.from('garbage')]);
    await page.setInputFiles('#chat-file', { name: 'broken.png', mimeType: 'image/png', buffer: corrupt });
    await page.fill('#chat-input', 'What is this?');
    await page.keyboard.press('Enter');
    const alert = page.locator('#chat-error');
    await alert.waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(
      (await alert.textContent()) ?? '',
      /^Invalid image at 'messages\[0\]\.content\[0\]\.image_url'/,
    );
    await page.locator('.message.user.failed').waitFor();
    await shot(page, 'desktop-chat-error.png');
  });

  test('generate: live previews fill in, then the final image, which downloads', async () => {
    // Reach the tab by keyboard.
    await page.focus('#tab-chat');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.isVisible('#panel-generate'), true);
    await page.fill('#gen-prompt', 'a red apple on a wooden table');
    await page.fill('#gen-seed', '42');
    await page.fill('#gen-n', '2');
    await page.fill('#gen-guidance', '5');
    await page.fill('#gen-temperature', '0.9');
    await page.fill('#gen-top-k', '40');
    await page.fill('#gen-top-p', '0.95');
    await page.fill('#gen-best-of', '1'); // live previews: one drawing per image (the default model's is 4)
    // The canvas is copied at each preview drawn (the grid filling in, as a person sees it), and the page calls
    // back the moment the first one is drawn, for the time to first preview.
    let firstPreviewAt = 0;
    await page.exposeFunction('e2ePreviewDrawn', () => {
      firstPreviewAt ||= Date.now();
    });
    await page.evaluate('e2e.recordPreviews()');
    const sent: unknown[] = [];
    page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(JSON.parse(String(f.payload)))));

    const requestedAt = Date.now();
    await page.click('#gen-start');
    await page.locator('#gen-results[data-state="done"]').waitFor({ timeout: 60_000 });
    msPerImage = (Date.now() - requestedAt) / 2;
    const figures = await page.locator('#gen-results').innerHTML();
    assert.ok(firstPreviewAt > 0, `no preview was drawn before the final images: ${figures.slice(0, 1000)}`);
    const pageMs = Number(await page.locator('#gen-results').getAttribute('data-first-preview-ms'));
    console.log(
      `# time from request to first preview: ${firstPreviewAt - requestedAt} ms ` +
        `(page's own clock, from submit to first preview drawn: ${pageMs} ms)`,
    );
    await shot(page, 'desktop-generate-done.png');

    assert.deepEqual(sent[0], {
      type: 'generate',
      prompt: 'a red apple on a wooden table',
      n: 2,
      guidance_scale: 5,
      temperature: 0.9,
      top_k: 40,
      top_p: 0.95,
      seed: 42,
      best_of: 1,
      preview_every: (sent[0] as { preview_every: number }).preview_every,
    });
    const finals = page.locator('#gen-results figure[data-state="done"] img');
    assert.equal(await finals.count(), 2);
    assert.ok((await finals.first().evaluate(naturalWidth)) > 0);
    assert.match((await page.textContent('#gen-progress-text')) ?? '', /^Done in .* first preview after/);
    assert.equal(
      await page.getAttribute('#gen-progress', 'value'),
      await page.getAttribute('#gen-progress', 'max'),
    );

    const frames = (await page.evaluate('e2e.takePreviews()')) as string[];
    frames.forEach((url, i) => {
      writeFileSync(
        join(ARTIFACTS, `generate-preview-${String(i + 1).padStart(2, '0')}.png`),
        url.split(',')[1],
        'base64',
      );
    });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Download PNG')]);
    assert.equal(download.suggestedFilename(), 'unitok-seed42-1.png');
    const path = join(ARTIFACTS, 'downloaded.png');
    await download.saveAs(path);
    assert.equal((await sharp(path).metadata()).format, 'png');
  });

  test('generate: cancel mid-way stops the job', async () => {
    await page.fill('#gen-n', '10');
    await page.fill('#gen-seed', '');
    // The tiny model draws ten images in a few tenths of a second, about what a click can take on a busy machine;
    // so a fast model's server gets a twentieth of the CPU meanwhile, as on a machine far slower than this one.
    const release = msPerImage * 10 < 3000 ? throttle(server.child, 10, 190) : () => {};
    try {
      await page.click('#gen-start');
      await page.locator('#gen-results figure:not([data-previews="0"])').first().waitFor({ timeout: 30_000 });
      await shot(page, 'desktop-generate-midway.png');
      await page.click('#gen-cancel');
      await page.locator('#gen-results[data-state="cancelled"]').waitFor({ timeout: 30_000 });
    } finally {
      release();
    }
    const text = (await page.textContent('#gen-progress-text')) ?? '';
    const [, done, total] = /^Cancelled after (\d+) of (\d+) visual tokens/.exec(text) ?? [];
    assert.ok(Number(done) > 0 && Number(done) < Number(total), text);
    assert.ok((await page.locator('#gen-results figure[data-state="cancelled"]').count()) > 0);
    assert.equal(await page.isHidden('#gen-error'), true);
    await shot(page, 'desktop-generate-cancelled.png');
    // The server stopped the job (not just the page): its metrics count one cancelled WebSocket job.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /unitok_requests_total\{kind="image_ws",outcome="cancelled"\} 1\b/);
  });

  test("generate: the model's best-of draws without previews and shows the chosen drawing", async () => {
    await page.fill('#gen-n', '1');
    await page.fill('#gen-seed', '7');
    await page.fill('#gen-best-of', '');
    assert.equal(await page.getAttribute('#gen-best-of', 'placeholder'), '4', "the model's default shown");
    const sent: { best_of?: number; preview_every?: number }[] = [];
    page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(JSON.parse(String(f.payload)))));
    await page.click('#gen-start');
    await page.locator('#gen-results[data-state="done"]').waitFor({ timeout: 60_000 });
    const request = sent.find((m) => 'best_of' in m);
    assert.deepEqual([request?.best_of, request?.preview_every], [4, 0]);
    assert.equal(await page.getAttribute('#gen-results figure', 'data-previews'), '0');
    const final = page.locator('#gen-results figure[data-state="done"] img');
    assert.ok((await final.evaluate(naturalWidth)) > 0);
  });

  test('at phone width nothing overflows, and both panels are usable', async () => {
    await page.setViewportSize(PHONE);
    const overflow = () =>
      page.evaluate('document.documentElement.scrollWidth - window.innerWidth') as Promise<number>;
    assert.ok((await overflow()) <= 0, 'no horizontal scrolling (generate)');
    await shot(page, 'phone-generate.png');
    await page.click('#tab-chat');
    await page.setInputFiles('#chat-file', {
      name: 'sun.png',
      mimeType: 'image/png',
      buffer: await picture(),
    });
    await page.fill('#chat-input', 'Describe this image.');
    await page.keyboard.press('Enter');
    await page.locator('.message.assistant[data-state="done"]').waitFor({ timeout: 60_000 });
    assert.ok((await overflow()) <= 0, 'no horizontal scrolling (chat)');
    await shot(page, 'phone-chat.png');
    await page.setViewportSize(DESKTOP);
  });

  test('understand: a held-out one-shape scene and the colour names give scores, its colour first', async () => {
    await page.click('#tab-understand');
    const data = join(ROOT, 'test', 'data', 'demo');
    const sample = JSON.parse(readFileSync(join(data, 'heldout.json'), 'utf8'));
    const scene = sample.scenes.find((sc: { shapes: unknown[] }) => sc.shapes.length === 1);
    const file = { name: scene.file, mimeType: 'image/png', buffer: readFileSync(join(data, scene.file)) };
    await page.setInputFiles('#zs-file', file);
    await page.locator('#zs-preview').waitFor();
    await page.fill('#zs-labels', sample.clip.color.labels.join(', '));
    await page.fill('#zs-template', sample.clip.color.template);
    await page.click('#zs-run');
    await page.locator('#zs-scores .score').first().waitFor({ timeout: 30_000 });
    const rows = await page.locator('#zs-scores .score span:first-child').allTextContents();
    assert.equal(rows.length, sample.clip.color.labels.length);
    assert.equal(rows[0], scene.shapes[0].color);
    await shot(page, 'desktop-understand.png');
    await page.fill('#zs-template', 'no slot for the label');
    await page.click('#zs-run');
    await page.locator('#zs-error').waitFor({ state: 'visible' });
    assert.match((await page.textContent('#zs-error')) ?? '', /hypothesis_template/);
  });

  test('the page asked only this server for anything, and raised no script errors', () => {
    const origin = new URL(server.url).host;
    const elsewhere = requested.filter((u) => !/^(data|blob):/.test(u) && new URL(u).host !== origin);
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(pageErrors, []);
  });
});

describe('web page on a server without an API key', { skip, timeout: 60_000 }, () => {
  test('shows no key field', async () => {
    const { app } = await startServer();
    const url = await listen(app);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(url);
      await page
        .locator('#model-info')
        .getByText(/^Model unitok-fake/)
        .waitFor();
      assert.equal(await page.isHidden('#key-form'), true);
    } finally {
      await browser.close();
      await app.close();
    }
  });
});
