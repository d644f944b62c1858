// jobgate dashboard: plain DOM, no framework, no build step.
// Every string that comes from the API goes in through textContent (el()
// below turns strings into text nodes): job names and errors are user data.
'use strict';

const REFRESH_MS = 5000;
const PAGE = 20;          // runs per history page
const TIMELINE = 50;      // runs in the timeline chart
const TOKEN_KEY = 'jobgate.token';
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
let timer = 0;
let seq = 0;               // bumped by every refresh; answers of an older one are dropped
let runsOffset = 0;
let runsNext = null;      // the history's next_offset (older page), null at the end
let current = null;        // the job page's last state, for the buttons

// ---- DOM helpers -----------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// ---- formatting --------------------------------------------------------------

function span(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return s + 's';
  const m = Math.floor(s / 60);
  if (m < 60) return m + 'm' + (m < 10 && s % 60 ? ' ' + (s % 60) + 's' : '');
  const h = Math.floor(m / 60);
  if (h < 48) return h + 'h' + (m % 60 ? ' ' + (m % 60) + 'm' : '');
  return Math.floor(h / 24) + 'd';
}

function relative(ts, now) {
  if (!ts) return '—';
  const d = Date.parse(ts) - now;
  if (Math.abs(d) < 1000) return 'now';
  return d > 0 ? 'in ' + span(d) : span(d) + ' ago';
}

function absolute(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return isNaN(d) ? String(ts) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return ms + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  return span(ms);
}

// A time cell: relative text, absolute time as the tooltip.
function timeCell(ts, now) {
  return el('time', { datetime: ts || undefined, title: ts ? absolute(ts) + ' (' + ts + ')' : undefined }, relative(ts, now));
}

function outcomeClass(o) {
  return ['succeeded', 'failed', 'timed_out', 'abandoned'].includes(o) ? 'o-' + o : 'o-other';
}

function result(job) {
  if (!job.last_outcome) return el('span', { class: 'muted' }, '—');
  let text = job.last_outcome.replace('_', ' ');
  if (job.last_outcome !== 'succeeded' && job.last_exit_code !== null && job.last_exit_code !== undefined) {
    text += ' (exit ' + job.last_exit_code + ')';
  }
  return el('span', { class: 'outcome ' + outcomeClass(job.last_outcome) }, text);
}

// The API speaks DESIGN.md's states (IDLE, RUNNING, PAUSED); the page, lower case.
function lower(status) {
  return status ? String(status).toLowerCase() : '';
}

function badge(status) {
  status = lower(status);
  return el('span', { class: 'status s-' + (status || 'none') }, status || 'no state');
}

// ---- API ---------------------------------------------------------------------

let tokenPrompt = null;    // one token dialog at a time, shared by all waiting requests

function askToken(again) {
  if (!tokenPrompt) {
    tokenPrompt = new Promise((resolve) => {
      const dlg = $('token-dialog');
      $('token-text').textContent = again
        ? 'The server refused that token. Enter a valid one.'
        : 'The server asks for a token. It is kept only in this browser tab.';
      $('token-input').value = '';
      dlg.returnValue = '';
      dlg.addEventListener('close', () => {
        const tok = dlg.returnValue === 'ok' ? $('token-input').value.trim() : '';
        $('token-input').value = '';
        tokenPrompt = null;
        resolve(tok);
      }, { once: true });
      dlg.showModal();
    });
  }
  return tokenPrompt;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, method = 'GET', body = undefined) {
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'network', 'the server did not answer');
    }
    if (res.status === 401 && attempt < 3) {
      const tok = await askToken(Boolean(token));
      if (!tok) throw new ApiError(401, 'unauthorized', 'a token is needed');
      sessionStorage.setItem(TOKEN_KEY, tok);
      continue;
    }
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const err = data && data.error;
      throw new ApiError(res.status, err ? err.code : 'http_' + res.status,
        err && err.message ? err.message : 'HTTP ' + res.status + ' ' + res.statusText);
    }
    return data;
  }
}

const jobPath = (name) => 'api/v1/jobs/' + encodeURIComponent(name);

// ---- refresh status and banner ---------------------------------------------

function refreshed(ok, err) {
  const t = new Date().toLocaleTimeString();
  const st = $('refresh-status');
  if (ok) {
    st.textContent = 'Updated ' + t;
    st.className = 'refresh ok';
    $('banner').hidden = true;
  } else {
    st.textContent = (err.code === 'network' ? 'Server not answering' : 'Refresh failed') + ' (' + t + ')';
    st.className = 'refresh bad';
    const b = $('banner');
    b.textContent = (err.status === 404 ? 'Not found: ' : 'Refresh failed: ') + err.message +
      (err.code && err.code !== 'network' ? ' [' + err.code + ']' : '') +
      (err.status === 404 ? '.' : '. Showing the last data; retrying every ' + REFRESH_MS / 1000 + ' s.');
    b.hidden = false;
  }
}

// ---- jobs page ---------------------------------------------------------------

async function loadJobs(gen, status) {
  const data = await api('api/v1/jobs' + (status ? '?status=' + encodeURIComponent(status) : ''));
  if (gen !== seq) return;
  const now = Date.parse(data.now) || Date.now();
  const rows = data.jobs.map((j) => {
    const lease = lower(j.status) === 'running' && j.lease_until ? Date.parse(j.lease_until) - now : null;
    return el('tr', { 'data-job': j.job },
      el('th', { scope: 'row', class: 'name', 'data-label': 'Job' },
        el('a', { href: '#/jobs/' + encodeURIComponent(j.job) }, j.job)),
      el('td', { 'data-label': 'Status' }, badge(j.status)),
      el('td', { 'data-label': 'Next run' }, timeCell(j.next_fire_ts, now)),
      el('td', { 'data-label': 'Last run' }, timeCell(j.last_run_ts, now)),
      el('td', { 'data-label': 'Result' }, result(j)),
      el('td', { 'data-label': 'Runs / ok / failed / abandoned' }, el('span', { class: 'counts' },
        el('span', { title: 'runs' }, j.run_count), ' / ',
        el('span', { title: 'succeeded', class: 'o-succeeded-text' }, j.success_count), ' / ',
        el('span', { title: 'failed', class: j.failure_count ? 'o-failed-text' : '' }, j.failure_count), ' / ',
        el('span', { title: 'abandoned' }, j.abandoned_count))),
      el('td', { 'data-label': 'Failures in a row', class: j.consecutive_failures ? 'alert' : 'muted' }, j.consecutive_failures),
      el('td', { 'data-label': 'Holder' }, el('span', { class: 'mono' }, j.holder || '—')),
      el('td', { 'data-label': 'Lease left', class: lease !== null && lease < 0 ? 'alert' : '' },
        lease === null ? '—' : lease >= 0 ? span(lease) : 'expired ' + span(lease) + ' ago'));
  });
  $('jobs-table').tBodies[0].replaceChildren(...rows);
  $('jobs-empty').hidden = rows.length > 0;
  $('jobs-empty').textContent = status ? 'No ' + status + ' jobs.' : 'No jobs.';
}

// ---- job page ----------------------------------------------------------------

const TIME_KEYS = /(_ts|_at|^lease_until|^next_allowed_run|^last_slot)$/;

function stateValue(key, v, now) {
  if (v === null || v === undefined || v === '') return el('span', { class: 'muted' }, '—');
  if (TIME_KEYS.test(key) && typeof v === 'string') {
    return el('span', null, absolute(v) + ' ', el('span', { class: 'muted' }, '(' + relative(v, now) + ')'));
  }
  if (key.endsWith('duration_ms')) return duration(v);
  if (key === 'status') return badge(v);
  if (key === 'last_outcome') return el('span', { class: 'outcome ' + outcomeClass(v) }, v);
  if (Array.isArray(v)) return v.length ? el('span', { class: 'mono' }, v.map((x) => typeof x === 'string' ? x : JSON.stringify(x)).join(', ')) : el('span', { class: 'muted' }, 'none');
  if (typeof v === 'object') return el('span', { class: 'mono' }, JSON.stringify(v));
  return String(v);
}

function renderState(data) {
  const now = Date.parse(data.now) || Date.now();
  const st = data.state;
  current = st;
  $('job-status').replaceChildren(badge(st ? st.status : null));
  const items = [];
  if (!st) items.push(el('dt', null, 'state'), el('dd', { class: 'muted' }, 'none yet'));
  for (const [k, v] of Object.entries(st || {})) {
    items.push(el('dt', { title: k }, k.replace(/_/g, ' ')), el('dd', { class: k === 'consecutive_failures' && v ? 'alert' : '' }, stateValue(k, v, now)));
  }
  $('state').replaceChildren(...items);
  $('definition').textContent = data.definition ? JSON.stringify(data.definition, null, 2) : '(no definition)';
  const status = st ? lower(st.status) : '';
  $('btn-pause').disabled = !st || status === 'paused';
  $('btn-resume').disabled = status !== 'paused';
  $('btn-trigger').disabled = !data.definition && !st;
  $('btn-unlock').disabled = !st || !(status === 'running' || st.holder);
}

function renderRuns(data) {
  const rows = data.runs.map((r) => el('tr', null,
    el('td', { 'data-label': 'Start' }, el('time', { datetime: r.start, title: r.start }, absolute(r.start))),
    el('td', { class: 'num' }, duration(r.duration_ms)),
    el('td', null, el('span', { class: 'outcome ' + outcomeClass(r.outcome) }, r.outcome || '—')),
    el('td', { class: 'num' }, r.exit_code === null || r.exit_code === undefined ? '—' : r.exit_code),
    el('td', { class: 'num' }, r.fence),
    el('td', { class: 'mono' }, r.holder || '—'),
    el('td', { class: 'error' }, r.error || '')));
  if (!rows.length) rows.push(el('tr', null, el('td', { colspan: 7, class: 'muted' }, data.offset ? 'No older runs.' : 'No runs yet.')));
  $('runs-table').tBodies[0].replaceChildren(...rows);
  $('runs-range').textContent = data.runs.length ? 'runs ' + (data.offset + 1) + '–' + (data.offset + data.runs.length) : '';
  $('runs-newer').disabled = data.offset === 0;
  runsNext = typeof data.next_offset === 'number' ? data.next_offset : null;
  $('runs-older').disabled = runsNext === null;
}

let timelineRuns = [];

function renderTimeline(runs) {
  const box = $('timeline');
  timelineRuns = runs;
  runs = runs.slice().reverse();   // oldest first
  if (!runs.length) { box.replaceChildren(el('p', { class: 'muted' }, 'No runs yet.')); return; }
  // Drawn at the box's pixel width (redrawn on resize), so text keeps its size on a phone.
  const W = Math.max(280, box.clientWidth || 640), H = 200, L = 52, B = 28, T = 12, R = 8;
  const plotW = W - L - R, plotH = H - T - B;
  const max = Math.max(1, ...runs.map((r) => r.duration_ms || 0));
  const slot = plotW / Math.max(runs.length, 10);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', class: 'chart',
    'aria-label': `Durations of the last ${runs.length} runs, oldest to newest; the longest took ${duration(max)}` });
  chart.append(
    svg('line', { x1: L, y1: T, x2: L, y2: T + plotH, class: 'axis' }),
    svg('line', { x1: L, y1: T + plotH, x2: W - R, y2: T + plotH, class: 'axis' }),
    svg('line', { x1: L, y1: T, x2: W - R, y2: T, class: 'grid' }),
    svg('text', { x: L - 6, y: T + 4, class: 'tick', 'text-anchor': 'end' }, duration(max)),
    svg('text', { x: L - 6, y: T + plotH, class: 'tick', 'text-anchor': 'end' }, '0'),
    svg('text', { x: 14, y: T + plotH / 2, class: 'label', 'text-anchor': 'middle', transform: `rotate(-90 14 ${T + plotH / 2})` }, 'duration'),
    svg('text', { x: L + plotW / 2, y: H - 6, class: 'label', 'text-anchor': 'middle' }, `last ${runs.length} runs, oldest → newest`));
  runs.forEach((r, i) => {
    const h = Math.max(2, ((r.duration_ms || 0) / max) * plotH);
    const tip = `${absolute(r.start)} — ${r.outcome || 'unknown'}, ${duration(r.duration_ms)}` +
      (r.exit_code !== null && r.exit_code !== undefined ? `, exit ${r.exit_code}` : '') + `, fence ${r.fence}` +
      (r.error ? ` — ${r.error}` : '');
    chart.append(svg('rect', { x: L + i * slot + slot * 0.15, y: T + plotH - h, width: slot * 0.7, height: h,
      class: 'bar ' + outcomeClass(r.outcome) }, svg('title', null, tip)));
  });
  box.replaceChildren(chart);
}

async function loadJob(gen, name) {
  const [job, runs, recent] = await Promise.all([
    api(jobPath(name)),
    api(jobPath(name) + '/runs?limit=' + PAGE + '&offset=' + runsOffset),
    api(jobPath(name) + '/runs?limit=' + TIMELINE + '&offset=0'),
  ]);
  if (gen !== seq) return;
  renderState(job);
  renderRuns(runs);
  renderTimeline(recent.runs);
}

// ---- actions -----------------------------------------------------------------

const ACTIONS = {
  pause: { verb: 'Pause', ask: 'Pause job “%”? It will not be started until resumed.', done: () => 'Paused.' },
  resume: { verb: 'Resume', ask: 'Resume job “%”?', done: () => 'Resumed.' },
  trigger: { verb: 'Trigger', ask: 'Run job “%” now?', done: () => 'Triggered.' },
  unlock: { verb: 'Unlock', ask: 'Release the lease of job “%” (fence #)? Only do this when its holder is gone.',
    done: (r) => 'Released fence ' + r.released_fence + '.' },
};

function confirmAction(action, name) {
  return new Promise((resolve) => {
    const dlg = $('confirm-dialog');
    const a = ACTIONS[action];
    $('confirm-title').textContent = a.verb + ' job';
    $('confirm-text').textContent = a.ask.replace('%', name).replace('#', current ? current.fence : '?');
    $('confirm-ok').textContent = a.verb;
    $('confirm-reason-label').hidden = action !== 'pause';
    $('confirm-reason').value = '';
    dlg.returnValue = '';
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok' ? { reason: $('confirm-reason').value.trim() } : null), { once: true });
    dlg.showModal();
  });
}

async function act(action) {
  const name = route().job;
  if (!name) return;
  const ok = await confirmAction(action, name);
  if (!ok) return;
  const msg = $('action-result');
  let body;
  if (action === 'pause' && ok.reason) body = { reason: ok.reason };
  if (action === 'unlock') body = { fence: current ? current.fence : 0 };
  msg.className = 'result-msg';
  msg.textContent = ACTIONS[action].verb + '…';
  try {
    const r = await api(jobPath(name) + '/' + action, 'POST', body);
    msg.textContent = ACTIONS[action].done(r || {});
    msg.className = 'result-msg good';
  } catch (e) {
    msg.textContent = ACTIONS[action].verb + ' failed: ' + e.message + (e.code ? ' [' + e.code + ']' : '');
    msg.className = 'result-msg bad';
  }
  refresh();
}

// ---- routing and the refresh loop -------------------------------------------

function route() {
  const h = location.hash.replace(/^#/, '');
  const m = /^\/jobs\/([^?]+)/.exec(h);
  if (m) {
    try { return { job: decodeURIComponent(m[1]) }; } catch (e) { return { job: m[1] }; }
  }
  const q = new URLSearchParams(h.split('?')[1] || '');
  const status = q.get('status');
  return { status: ['idle', 'running', 'paused'].includes(status) ? status : '' };
}

async function refresh() {
  clearTimeout(timer);
  const gen = ++seq;
  const r = route();
  try {
    if (r.job) await loadJob(gen, r.job);
    else await loadJobs(gen, r.status);
    if (gen === seq) refreshed(true);
  } catch (e) {
    if (gen === seq && r.job && e.status === 404) clearJob();
    if (gen === seq) refreshed(false, e);
  }
  if (gen === seq) timer = setTimeout(refresh, REFRESH_MS);
}

// Empties the job page (another job, or one that does not exist).
function clearJob() {
  current = null;
  timelineRuns = [];
  for (const id of ['state', 'definition', 'timeline', 'job-status', 'runs-range']) $(id).replaceChildren();
  $('runs-table').tBodies[0].replaceChildren();
  for (const b of document.querySelectorAll('#job-view button')) b.disabled = true;
}

function navigate() {
  const r = route();
  $('jobs-view').hidden = Boolean(r.job);
  $('job-view').hidden = !r.job;
  $('banner').hidden = true;
  if (r.job) {
    runsOffset = 0;
    $('job-name').textContent = r.job;
    $('action-result').textContent = '';
    clearJob();
    document.title = r.job + ' · jobgate';
  } else {
    $('status-filter').value = r.status;
    document.title = 'Jobs · jobgate';
  }
  refresh();
}

document.addEventListener('DOMContentLoaded', () => {
  $('status-filter').addEventListener('change', (e) => {
    location.hash = e.target.value ? '#/?status=' + e.target.value : '#/';
  });
  for (const b of document.querySelectorAll('[data-action]')) b.addEventListener('click', () => act(b.dataset.action));
  $('runs-newer').addEventListener('click', () => { runsOffset = Math.max(0, runsOffset - PAGE); refresh(); });
  $('runs-older').addEventListener('click', () => { if (runsNext !== null) { runsOffset = runsNext; refresh(); } });
  $('confirm-cancel').addEventListener('click', () => $('confirm-dialog').close(''));
  $('token-cancel').addEventListener('click', () => $('token-dialog').close(''));
  window.addEventListener('hashchange', navigate);
  let resizing = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { if (route().job && timelineRuns.length) renderTimeline(timelineRuns); }, 150);
  });
  navigate();
});
