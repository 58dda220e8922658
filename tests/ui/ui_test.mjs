// ui_test.mjs — drives the demo page in headless Chromium against the real
// server (tests/ui/run.sh starts it and prepares the references):
//   node ui_test.mjs BASE_URL REFS_DIR ARTIFACTS_DIR
// REFS_DIR holds what the test expects, taken from the HTTP API with curl
// and decoded with PIL, not from the page: classify.json (the /classify
// answer for shirt.png), segment.json (the /segment?format=json answer for
// scene.png), samples.json ([x, y, [r,g,b] of the mask, photo gray value]
// at sampled pixels), bad.json (the error answer for a truncated PNG), and
// the image files. Prints "ok"/"FAIL" lines and "N passed, N failed".
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [base, refs, art] = process.argv.slice(2);
const ref = (f) => path.join(refs, f);
const json = (f) => JSON.parse(fs.readFileSync(ref(f), 'utf8'));
let pass = 0, fail = 0;
const ok = (name) => { pass++; console.log('ok   ' + name); };
const ko = (name, why) => { fail++; console.log('FAIL ' + name + (why ? ' — ' + why : '')); };
const check = (cond, name, why) => (cond ? ok(name) : ko(name, why));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  const page = await ctx.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));

  // --- the page and its headers ------------------------------------------------
  const resp = await page.goto(base + '/', { waitUntil: 'load' });
  check(resp.status() === 200, 'GET / answers 200', String(resp.status()));
  const csp = resp.headers()['content-security-policy'] || '';
  check(csp.includes("script-src 'self'") && !csp.includes('unsafe'), 'CSP: scripts from self only, nothing unsafe', csp);
  await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0, null, { timeout: 15000 });
  const names = await page.$$eval('#model option', (os) => os.map((o) => o.value));
  const models = json('models.json').models.filter((m) => m.status === 'ready').map((m) => m.name);
  check(JSON.stringify(names) === JSON.stringify(models), 'model list is /models', names.join(','));

  // The page numbers its runs (body data-run) and marks the one it finished
  // (data-done); changing the model re-runs the last image, so wait for that
  // too before the upload under test.
  const settled = () => page.waitForFunction(() => document.body.dataset.run === undefined ||
    document.body.dataset.done === document.body.dataset.run, null, { timeout: 30000 });
  async function upload(model, file) {
    await page.selectOption('#model', model);
    await settled();
    const before = Number(await page.evaluate(() => document.body.dataset.run || 0));
    await page.setInputFiles('#file', file);
    await page.waitForFunction((b) => Number(document.body.dataset.run) > b &&
      document.body.dataset.done === document.body.dataset.run, before, { timeout: 30000 });
  }

  // --- classify --------------------------------------------------------------------
  const cls = json('classify.json');
  const clsModel = cls.model;
  await upload(clsModel, ref('shirt.png'));
  const rows = await page.$$eval('#topk li', (lis) => lis.map((li) => ({
    label: li.dataset.label, text: li.querySelector('.score').textContent,
    bar: li.querySelector('.bar').getBoundingClientRect().width,
  })));
  const want = cls.predictions[0];
  check(rows.length === want.length && rows.every((r, i) => r.label === want[i].label),
    'classify: the page lists the API\'s top-k labels in order', JSON.stringify(rows.map((r) => r.label)));
  check(rows.every((r, i) => r.text === (100 * want[i].score).toFixed(1) + '%'),
    'classify: scores as the API gave them', JSON.stringify(rows.map((r) => r.text)));
  check(rows[0].bar > 0 && rows.every((r, i) => Math.abs(r.bar / rows[0].bar - want[i].score / want[0].score) < 0.02 || r.bar <= 3),
    'classify: bar lengths proportional to the scores', JSON.stringify(rows.map((r) => r.bar)));
  const timing = await page.textContent('#timing');
  check(/decode [\d.]+ ms · queue [\d.]+ ms · infer [\d.]+ ms · total [\d.]+ ms/.test(timing),
    'classify: timings shown', timing);
  await page.screenshot({ path: path.join(art, 'classify.png'), fullPage: true });

  // --- segment ---------------------------------------------------------------------
  const seg = json('segment.json');
  await upload(seg.model, ref('scene.png'));
  const dims = await page.$eval('#overlay', (c) => [c.width, c.height]);
  check(dims[0] === seg.width && dims[1] === seg.height, 'segment: overlay canvas at the image size', String(dims));
  const legend = await page.$$eval('#legend tbody tr', (trs) => trs.map((tr) => ({
    index: Number(tr.dataset.index), cells: [...tr.querySelectorAll('td')].map((td) => td.textContent),
    swatch: getComputedStyle(tr.querySelector('.swatch')).backgroundColor,
  })));
  check(legend.length === seg.classes.length && legend.every((l, i) => l.index === seg.classes[i].index &&
    l.cells[1] === seg.classes[i].label && l.cells[2] === String(seg.classes[i].pixels) &&
    l.cells[3] === (100 * seg.classes[i].fraction).toFixed(2) + '%'),
  'segment: legend = the API\'s classes, pixels and shares', JSON.stringify(legend.slice(0, 3)));
  const samples = json('samples.json');
  const palette = json('palette.json');
  check(legend.every((l) => l.swatch === 'rgb(' + palette[l.index].join(', ') + ')'),
    'segment: legend colours = the mask PNG\'s palette', legend.map((l) => l.swatch).join(' '));
  async function pixels() {
    return page.evaluate((pts) => {
      const g = document.getElementById('overlay').getContext('2d');
      return pts.map(([x, y]) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3)));
    }, samples);
  }
  async function opacity(v) {
    await page.$eval('#opacity', (el, val) => { el.value = String(val); el.dispatchEvent(new Event('input')); }, v);
  }
  const near = (a, b, tol) => a.every((v, i) => Math.abs(v - b[i]) <= tol);
  await opacity(100);
  let px = await pixels();
  let bad = px.map((p, i) => (near(p, samples[i][2], 0) ? null : [samples[i], p])).filter(Boolean);
  check(bad.length === 0, `segment: at 100% opacity the canvas shows the mask's colours at ${samples.length} pixels`, JSON.stringify(bad.slice(0, 3)));
  await opacity(0);
  px = await pixels();
  bad = px.map((p, i) => (near(p, [samples[i][3], samples[i][3], samples[i][3]], 1) ? null : [samples[i], p])).filter(Boolean);
  check(bad.length === 0, 'segment: at 0% the canvas shows the photo', JSON.stringify(bad.slice(0, 3)));
  await opacity(50);
  px = await pixels();
  bad = px.map((p, i) => {
    const w = samples[i][2].map((c) => (c + samples[i][3]) / 2);
    return near(p, w, 2) ? null : [samples[i], p];
  }).filter(Boolean);
  check(bad.length === 0, 'segment: at 50% the canvas blends photo and mask', JSON.stringify(bad.slice(0, 3)));
  await page.screenshot({ path: path.join(art, 'segment.png'), fullPage: true });
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  await dl.saveAs(path.join(art, 'downloaded-mask.png'));
  check(fs.statSync(path.join(art, 'downloaded-mask.png')).size > 0, 'segment: mask PNG downloads', '');

  check(problems.length === 0, 'no console errors or CSP violations', problems.join(' | '));

  // --- errors in the server's words -------------------------------------------------
  const badAns = json('bad.json');
  await upload(clsModel, ref('truncated.png'));
  const shown = await page.textContent('#error');
  const visible = await page.isVisible('#error');
  check(visible && shown.includes(badAns.error.message) && shown.includes(badAns.error.code),
    'error: shown as the server worded it', shown);
  check(!(await page.isVisible('#result')), 'error: no stale result beside it', '');
  await page.screenshot({ path: path.join(art, 'error.png'), fullPage: true });

  // the browser logs the refused upload itself; nothing else may appear
  const extra = problems.filter((m) => !m.includes('status of 400'));
  check(extra.length === 0, 'error: nothing logged but the 400 itself', extra.join(' | '));
} catch (e) {
  ko('the browser session', e.stack || String(e));
} finally {
  await browser.close();
}
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
