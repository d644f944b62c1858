// Real-browser test of the dashboard served by `jobgate serve`: Debian's
// chromium, headless, driven by puppeteer-core (tools/browser, pinned).
//
//   node tests/browser/dashboard.mjs --url http://127.0.0.1:PORT --token-file FILE \
//     --job NAME --artifacts DIR --status-cmd 'build/jobgate --store URL status NAME --json'
//
// Each option may also come from the environment: DASH_URL, DASH_TOKEN_FILE,
// DASH_JOB, DASH_ARTIFACTS, DASH_STATUS_CMD; CHROMIUM overrides the browser
// (default /usr/bin/chromium). The job must exist, have runs, and not be
// paused. Needs tools/browser/node_modules (scripts/npm-tools.sh tools/browser).
//
// Steps: the jobs table lists every job the API lists; screenshots jobs.png
// (1280x800) and jobs-phone.png (390x844, mobile); the job page shows its run
// history and timeline (job.png); Pause through the confirm dialog and the
// token dialog (the test fails if the server never asks for the token),
// checked on the page and in the store (--status-cmd); Resume the same way. Fails on a page error, a console error, or a request to any
// other origin than the server (so the dashboard needs no other network).
// Writes failure.png on failure. Exit 0 on success, 1 on failure, 2 on usage.
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import fs from 'node:fs';
import path from 'node:path';

const WAIT_MS = 15000;
const TOTAL_MS = 90000;

function usage(msg) {
  console.error('dashboard.mjs: ' + msg);
  console.error("usage: node tests/browser/dashboard.mjs --url URL --token-file FILE --job NAME --artifacts DIR --status-cmd 'CMD'");
  process.exit(2);
}

function options() {
  const o = {
    url: process.env.DASH_URL, 'token-file': process.env.DASH_TOKEN_FILE, job: process.env.DASH_JOB,
    artifacts: process.env.DASH_ARTIFACTS, 'status-cmd': process.env.DASH_STATUS_CMD,
  };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !(m[1] in o)) usage('unknown argument ' + argv[i]);
    o[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
    if (o[m[1]] === undefined) usage('--' + m[1] + ' needs a value');
  }
  for (const k of Object.keys(o)) if (!o[k]) usage('missing --' + k);
  return o;
}

const opt = options();
const origin = new URL(opt.url).origin;
const token = fs.readFileSync(opt['token-file'], 'utf8').trim();
if (!token) usage('the token file is empty');
fs.mkdirSync(opt.artifacts, { recursive: true });
const artifact = (name) => path.join(opt.artifacts, name);

// puppeteer-core lives in tools/browser/node_modules, not beside this file.
const requireFromTools = createRequire(new URL('../../tools/browser/package.json', import.meta.url));
let puppeteer;
try {
  puppeteer = (await import(pathToFileURL(requireFromTools.resolve('puppeteer-core')).href)).default;
} catch (e) {
  usage('puppeteer-core not installed: run scripts/npm-tools.sh tools/browser (' + e.message + ')');
}

let step = 0;
let browser = null;
let page = null;
const problems = [];   // page errors, console errors, foreign requests: any one fails the test

function ok(msg) {
  console.log(`ok ${++step} - ${msg}`);
}

async function fail(msg) {
  console.error(`not ok ${step + 1} - ${msg}`);
  if (page) {
    try {
      await page.screenshot({ path: artifact('failure.png'), fullPage: true });
      console.error('dashboard: screenshot of the failure in ' + artifact('failure.png'));
    } catch (e) {
      console.error('dashboard: no failure screenshot: ' + e.message);
    }
  }
  console.log(`dashboard: ${step} passed, 1 failed`);
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}

function checkProblems() {
  if (problems.length) throw new Error(problems.join('; '));
}

// Wait for fn (run in the page) to return a truthy value, bounded. Whenever
// the dashboard's token dialog is open meanwhile (a 401), give it the token.
let tokensGiven = 0;
async function waitFor(what, fn, ...args) {
  const end = Date.now() + WAIT_MS;
  for (;;) {
    checkProblems();
    if (await page.evaluate(() => Boolean(document.getElementById('token-dialog')?.open))) {
      await page.type('#token-input', token);
      await page.click('#token-ok');
      tokensGiven++;
      ok(`the dashboard asked for the token (while waiting for ${what}); given`);
    } else {
      const v = await page.evaluate(fn, ...args);
      if (v) return v;
    }
    if (Date.now() > end) throw new Error(`timed out after ${WAIT_MS / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function statusFromStore() {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', opt['status-cmd']], { timeout: WAIT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`--status-cmd failed (${err.code ?? err.signal}): ${String(stderr).trim()}`));
      try {
        const st = JSON.parse(stdout);
        resolve(st && String(st.state ? st.state.status : st.status).toLowerCase());
      } catch (e) {
        const m = /"status"\s*:\s*"([A-Za-z_]+)"/.exec(stdout);
        if (m) resolve(m[1].toLowerCase());
        else reject(new Error('--status-cmd printed no "status": ' + stdout.slice(0, 200)));
      }
    });
  });
}

async function apiJobs() {
  const res = await fetch(origin + '/api/v1/jobs', { headers: { Authorization: 'Bearer ' + token } });
  if (!res.ok) throw new Error(`GET /api/v1/jobs answered ${res.status}`);
  return (await res.json()).jobs.map((j) => j.job);
}

// Click an action button, confirm in the <dialog>, give the token if asked,
// and wait for the page's status badge to read `want`.
async function doAction(button, want, reason) {
  await waitFor(`${button} to be enabled`, (id) => { const b = document.getElementById(id); return b && !b.disabled; }, button);
  await page.click('#' + button);
  await waitFor('the confirm dialog', () => document.getElementById('confirm-dialog').open);
  if (reason !== undefined) await page.type('#confirm-reason', reason);
  await page.click('#confirm-ok');
  await waitFor(`status "${want}" on the page`, (w) =>
    !document.getElementById('confirm-dialog').open &&
    document.getElementById('job-status').textContent.trim() === w, want);
  const msg = await page.$eval('#action-result', (e) => e.textContent);
  if (/failed/.test(msg)) throw new Error('the page says: ' + msg);
}

const deadline = setTimeout(() => fail(`the whole test took over ${TOTAL_MS / 1000} s`), TOTAL_MS);

try {
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    timeout: WAIT_MS,
  });
  page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const loc = m.location() || {};
    // Chrome logs every HTTP error answer of a fetch; a 401 from the API is
    // the expected way to ask for the token.
    if (/status of 401/.test(m.text()) && (loc.url || '').startsWith(origin + '/api/')) return;
    problems.push(`console error: ${m.text()}${loc.url ? ' (' + loc.url + ')' : ''}`);
  });
  await page.setRequestInterception(true);
  page.on('request', (req) => {
    const u = req.url();
    if (u.startsWith('data:') || u.startsWith('blob:') || u.startsWith('about:')) return req.continue();
    let o = '';
    try { o = new URL(u).origin; } catch (e) { /* unparsable: foreign */ }
    if (o === origin) return req.continue();
    problems.push('request to another host than the server: ' + u);
    return req.abort('blockedbyclient');
  });
  page.on('requestfailed', (req) => {
    if (new URL(req.url()).origin === origin && req.failure()?.errorText !== 'net::ERR_ABORTED') {
      problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`);
    }
  });
  page.on('response', (res) => {
    const u = new URL(res.url());
    if (u.origin === origin && !u.pathname.startsWith('/api/') && res.status() >= 400) {
      problems.push(`${u.pathname} answered ${res.status()}`);
    }
  });

  // 1. The jobs page lists every job the API lists.
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(origin + '/', { waitUntil: 'load' });
  const want = await apiJobs();
  if (!want.includes(opt.job)) throw new Error(`the API does not list job "${opt.job}" (it lists: ${want.join(', ')})`);
  const listed = await waitFor('the jobs table', (n) => {
    const names = [...document.querySelectorAll('#jobs-table tbody th.name a')].map((a) => a.textContent);
    return names.length >= n && names;
  }, want.length);
  const missing = want.filter((j) => !listed.includes(j));
  if (missing.length) throw new Error('jobs missing from the table: ' + missing.join(', '));
  checkProblems();
  ok(`the jobs table lists all ${want.length} jobs of the API, "${opt.job}" among them`);

  await page.screenshot({ path: artifact('jobs.png'), fullPage: true });
  ok('screenshot ' + artifact('jobs.png') + ' (1280x800)');

  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await page.goto(origin + '/', { waitUntil: 'load' });
  await waitFor('the jobs table on the phone', () => document.querySelectorAll('#jobs-table tbody th.name a').length > 0);
  await page.screenshot({ path: artifact('jobs-phone.png'), fullPage: true });
  ok('screenshot ' + artifact('jobs-phone.png') + ' (390x844, mobile)');

  // 2. The job page: run history and timeline.
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(origin + '/#/jobs/' + encodeURIComponent(opt.job), { waitUntil: 'load' });
  await waitFor('the job name heading', (n) => document.getElementById('job-name').textContent === n, opt.job);
  const runs = await waitFor('the run history', () =>
    document.querySelectorAll('#runs-table tbody tr td time').length);
  const bars = await waitFor('the timeline bars', () =>
    document.querySelectorAll('#timeline svg rect.bar').length);
  const status0 = await page.$eval('#job-status', (e) => e.textContent.trim());
  ok(`job page of "${opt.job}": ${runs} runs in the history, ${bars} bars in the timeline, status ${status0}`);
  await page.screenshot({ path: artifact('job.png'), fullPage: true });
  ok('screenshot ' + artifact('job.png'));
  if (status0 === 'paused') throw new Error(`job "${opt.job}" is already paused`);

  // 3. Pause, with the token when the server asks for it.
  await doAction('btn-pause', 'paused', 'browser test');
  ok('Pause confirmed; the page shows "paused"');
  const s1 = await statusFromStore();
  if (s1 !== 'paused') throw new Error(`after Pause the store says status "${s1}", not "paused"`);
  ok('the store says "paused"');

  // 4. Resume.
  await doAction('btn-resume', 'idle');
  ok('Resume confirmed; the page shows "idle"');
  const s2 = await statusFromStore();
  if (s2 !== 'idle') throw new Error(`after Resume the store says status "${s2}", not "idle"`);
  ok('the store says "idle"');

  if (!tokensGiven) throw new Error('the server never asked for the token: it accepted Pause without one');
  checkProblems();
  ok('no page error, console error or request to another host');
} catch (e) {
  clearTimeout(deadline);
  await fail(e.message);
}
clearTimeout(deadline);
await browser.close();
console.log(`dashboard: ${step} passed, 0 failed`);
