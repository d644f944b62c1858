// The DynamoDB benchmark (bench/dynamodb_bench.sh runs it): jobgate's skip
// path and a guarded run against one dynalite, as store calls per invocation
// and as time next to the floor, the same calls made raw by the AWS SDK for
// JavaScript in this process.
//
//   node bench.mjs --jobgate PATH --endpoint http://127.0.0.1:PORT [--iterations N] [--json FILE]
//
// Calls are counted twice: what jobgate says (store_reads / store_writes in
// --json) and the HTTP requests a pass-through fault-proxy.mjs actually saw.
// Times are measured straight against dynalite (no proxy), interleaved round
// by round so a noisy neighbour hits every row alike.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { makeClient } from './sdk.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    jobgate: { type: 'string' },
    endpoint: { type: 'string' },
    iterations: { type: 'string', default: '200' },
    json: { type: 'string' },
  },
});
if (!values.jobgate || !values.endpoint) {
  console.error('usage: node bench.mjs --jobgate PATH --endpoint URL [--iterations N] [--json FILE]');
  process.exit(2);
}
const iterations = Number(values.iterations);
const table = `bench_${process.pid}`;
const work = mkdtempSync(join(tmpdir(), 'jobgate-dynamo-bench-'));
const storeUrl = (endpoint) => `dynamodb://${table}?region=us-east-1&endpoint=${endpoint}`;

function jobgate(endpoint, args) {
  const r = spawnSync(values.jobgate, ['--store', storeUrl(endpoint), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`jobgate ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
const lastJson = (text) => JSON.parse(text.trim().split('\n').pop());

async function startProxy(latencyMs = 0) {
  const portFile = join(work, `proxy-${latencyMs}.port`);
  const log = join(work, `proxy-${latencyMs}.log`);
  const child = spawn('node', [join(here, 'fault-proxy.mjs'), '--upstream', values.endpoint,
    '--port-file', portFile, '--log', log, '--latency-ms', `${latencyMs}`], { stdio: 'inherit' });
  for (let i = 0; i < 200 && !existsSync(portFile); ++i) await sleep(50);
  if (!existsSync(portFile)) throw new Error('fault-proxy did not start');
  const requests = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean)
    .map((l) => JSON.parse(l)) : []);
  return { endpoint: `http://127.0.0.1:${readFileSync(portFile, 'utf8').trim()}`, requests, stop: () => child.kill() };
}

const kReadOps = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'DescribeTable']);
const kLatencyMs = 20;

// Sequential round trips: requests sent while another was unanswered ride
// along with it (merged intervals of [arrived, answered]).
// Also the time during which some request was unanswered: with a fixed
// latency per answer, that time over the latency is the round trips the
// process waited for (a request that had to wait for a connection shows as
// a fraction more).
function roundTrips(requests) {
  let trips = 0;
  let end = -Infinity;
  let waitedMs = 0;
  for (const r of [...requests].sort((a, b) => a.t0 - b.t0)) {
    if (r.t0 >= end) ++trips;
    waitedMs += Math.max(0, r.t1 - Math.max(r.t0, end));
    end = Math.max(end, r.t1);
  }
  return { trips, waitedMs };
}

// One jobgate invocation through the proxy: what it reports, what went over
// the wire. `GET /` (jobgate opening its second connection while the
// workload runs) is no API call: counted apart, and not a round trip of
// the protocol (it overlaps the workload).
function counted(proxy, args) {
  const before = proxy.requests().length;
  const dashes = args.indexOf('--');
  const t0 = process.hrtime.bigint();
  const out = lastJson(jobgate(proxy.endpoint, [...args.slice(0, dashes), '--json', ...args.slice(dashes)]));
  const wallMs = ms(t0);
  const all = proxy.requests().slice(before);
  const seen = all.filter((r) => r.op !== 'GET');
  const ops = {};  // in order of first appearance
  for (const r of seen) ops[r.op] = (ops[r.op] || 0) + 1;
  const httpReads = seen.filter((r) => kReadOps.has(r.op)).length;
  const units = (ops) => seen.filter((r) => ops(r.op)).reduce((sum, r) => sum + (r.capacity || 0), 0);
  return { outcome: out.outcome, reason: out.reason, reads: out.store_reads, writes: out.store_writes,
    http: seen.length, httpReads, httpWrites: seen.length - httpReads, ops, sequence: seen.map((r) => r.op),
    opens: all.length - seen.length, ...roundTrips(seen), rcu: units((op) => kReadOps.has(op)),
    wcu: units((op) => !kReadOps.has(op)), wallMs };
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
function timedSpawn(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  const t = ms(t0);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return t;
}

// The floor: read, CAS to RUNNING, CAS back to IDLE with counters, exactly
// the three calls a guarded run needs, on a warm SDK client.
const client = makeClient(values.endpoint);
const key = { PK: { S: 'JOB#sdk_floor' }, SK: { S: 'STATE' } };
async function sdkSkip() {
  const t0 = process.hrtime.bigint();
  await client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }));
  return ms(t0);
}
async function sdkGuardedAttempt(i) {
  const t0 = process.hrtime.bigint();
  const got = await client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }));
  const v = Number(got.Item.version.N);
  const me = `sdk-run-${i}`;
  await client.send(new UpdateItemCommand({
    TableName: table, Key: key,
    UpdateExpression: 'SET #s = :running, #o = :me, version = :v1, lease_until = :lease, last_run_ts = :now ADD run_count :one, fence :one',
    ConditionExpression: 'version = :v AND #s = :idle',
    ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
    ExpressionAttributeValues: { ':running': { S: 'RUNNING' }, ':idle': { S: 'IDLE' }, ':me': { S: me },
      ':v': { N: `${v}` }, ':v1': { N: `${v + 1}` }, ':lease': { N: `${Date.now() + 60000}` },
      ':now': { N: `${Date.now()}` }, ':one': { N: '1' } },
  }));
  await client.send(new UpdateItemCommand({
    TableName: table, Key: key,
    UpdateExpression: 'SET #s = :idle, #o = :empty, version = :v2, last_success_ts = :now, consecutive_failures = :zero ADD success_count :one',
    ConditionExpression: 'version = :v1 AND #o = :me',
    ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
    ExpressionAttributeValues: { ':idle': { S: 'IDLE' }, ':empty': { S: '' }, ':me': { S: me },
      ':v1': { N: `${v + 1}` }, ':v2': { N: `${v + 2}` }, ':now': { N: `${Date.now()}` },
      ':zero': { N: '0' }, ':one': { N: '1' } },
  }));
  return ms(t0);
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: q(0.5), p90: q(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

try {
  jobgate(values.endpoint, ['init']);
  await client.send(new PutItemCommand({ TableName: table,
    Item: { ...key, status: { S: 'IDLE' }, version: { N: '1' }, owner: { S: '' } } }));

  // --- calls per invocation (through the counting proxy) ---
  const proxy = await startProxy();
  const calls = {};
  try {
    counted(proxy, ['run', 'count_run', '--', 'true']);  // creates the state item
    calls.run = counted(proxy, ['run', 'count_run', '--', 'true']);
    counted(proxy, ['run', 'count_skip', '--cooldown', '1h', '--', 'true']);
    calls.skip = counted(proxy, ['run', 'count_skip', '--cooldown', '1h', '--', 'true']);
  } finally {
    proxy.stop();
  }
  if (calls.run.outcome !== 'succeeded') throw new Error(`run: ${JSON.stringify(calls.run)}`);
  if (calls.skip.outcome !== 'skipped') throw new Error(`skip: ${JSON.stringify(calls.skip)}`);

  // --- sequential round trips, each answer held 20 ms (a distant endpoint) ---
  const far = await startProxy(kLatencyMs);
  const trips = {};
  try {
    counted(far, ['run', 'far_run', '--', 'true']);
    counted(far, ['run', 'far_skip', '--cooldown', '1h', '--', 'true']);
    trips.skip = counted(far, ['run', 'far_skip', '--cooldown', '1h', '--', 'true']);
    trips.runTrue = counted(far, ['run', 'far_run', '--', 'true']);
    trips.runSleep = counted(far, ['run', 'far_run', '--', 'sleep', '0.1']);
  } finally {
    far.stop();
  }
  for (const [k, v] of Object.entries(trips)) {
    if (v.outcome !== (k === 'skip' ? 'skipped' : 'succeeded')) throw new Error(`${k}: ${JSON.stringify(v)}`);
  }

  // --- time per invocation, straight to dynalite, interleaved ---
  jobgate(values.endpoint, ['run', 'time_skip', '--cooldown', '1h', '--', 'true']);
  const runArgs = ['--store', storeUrl(values.endpoint), 'run', 'time_run', '--', 'true'];
  const skipArgs = ['--store', storeUrl(values.endpoint), 'run', 'time_skip', '--cooldown', '1h', '--', 'true'];
  for (let i = 0; i < 5; ++i) {  // warm-up: page cache, dynalite's JIT
    timedSpawn(values.jobgate, runArgs);
    timedSpawn(values.jobgate, skipArgs);
    await sdkGuardedAttempt(-i - 1);
  }
  const t = { sdkSkip: [], sdkRun: [], binTrue: [], version: [], skip: [], run: [] };
  for (let i = 0; i < iterations; ++i) {
    t.sdkSkip.push(await sdkSkip());
    t.sdkRun.push(await sdkGuardedAttempt(i));
    t.binTrue.push(timedSpawn('/bin/true', []));
    t.version.push(timedSpawn(values.jobgate, ['--version']));
    t.skip.push(timedSpawn(values.jobgate, skipArgs));
    t.run.push(timedSpawn(values.jobgate, runArgs));
  }
  const st = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, stats(v)]));
  const ratio = (a, b) => (st[a].p50 / st[b].p50).toFixed(1);
  const fmt = (x) => x.toFixed(2);
  const opsText = (o) => Object.entries(o).map(([k, v]) => `${v} ${k}`).join(' + ');

  const rows = [
    ['AWS SDK JS, warm client: GetItem (skip floor)', st.sdkSkip, '1', '1 GetItem', '1.0'],
    ['AWS SDK JS, warm client: GetItem + 2 conditional UpdateItem (run floor)', st.sdkRun, '3',
      '1 GetItem + 2 UpdateItem', '1.0'],
    ['`/bin/true` spawned (process cost alone)', st.binTrue, '0', '-', '-'],
    ['`jobgate --version` (process + its shared libraries, no store)', st.version, '0', '-', '-'],
    ['`jobgate run` skip (cooldown), whole process', st.skip,
      `${calls.skip.reads}r + ${calls.skip.writes}w`, opsText(calls.skip.ops), ratio('skip', 'sdkSkip')],
    ['`jobgate run -- true` guarded run, whole process', st.run,
      `${calls.run.reads}r + ${calls.run.writes}w`, opsText(calls.run.ops), ratio('run', 'sdkRun')],
  ];
  console.log(`\nDynamoDB benchmark: dynalite ${values.endpoint}, ${iterations} interleaved rounds\n`);
  console.log('| what | p50 ms | p90 ms | store calls (--json) | HTTP requests seen | p50 / floor |');
  console.log('|---|---|---|---|---|---|');
  for (const [what, s, c, h, r] of rows) console.log(`| ${what} | ${fmt(s.p50)} | ${fmt(s.p90)} | ${c} | ${h} | ${r} |`);
  // What the store work costs once the process exists: minus `jobgate --version`.
  const net = (k, floor) => `${fmt(st[k].p50 - st.version.p50)} ms (${((st[k].p50 - st.version.p50) / st[floor].p50).toFixed(1)}x floor)`;
  console.log(`\njobgate minus its own start-up (p50 - \`jobgate --version\` p50): skip ${net('skip', 'sdkSkip')}, `
    + `run ${net('run', 'sdkRun')}`);
  console.log(`HTTP requests in order: skip ${calls.skip.sequence.join(', ')}; run ${calls.run.sequence.join(', ')}`);
  console.log(`capacity units DynamoDB reported: skip ${calls.skip.rcu} read + ${calls.skip.wcu} write; `
    + `run ${calls.run.rcu} read + ${calls.run.wcu} write (the run record included)`);

  console.log(`\nWith every answer held ${kLatencyMs} ms (a distant endpoint), whole process:\n`);
  console.log('| invocation | wall ms | API calls | sequential round trips | time waiting for answers | connections opened with `GET /` |');
  console.log('|---|---|---|---|---|---|');
  for (const [what, c] of [['skip (cooldown)', trips.skip], ['`run -- true`', trips.runTrue],
    ['`run -- sleep 0.1`', trips.runSleep]]) {
    console.log(`| ${what} | ${fmt(c.wallMs)} | ${opsText(c.ops)} | ${c.trips} | ${fmt(c.waitedMs)} ms `
      + `= ${(c.waitedMs / kLatencyMs).toFixed(2)} x ${kLatencyMs} ms | ${c.opens} |`);
  }
  // The run record rides with the commit once the second connection is open;
  // a workload shorter than opening it (`true`) leaves the record after the
  // commit on the first connection: 4, never more.
  const checks = [
    ['skip = 1 API call, 1 round trip', calls.skip.http === 1 && trips.skip.http === 1 && trips.skip.trips === 1],
    ['run <= 1 read + 3 writes', calls.run.httpReads <= 1 && calls.run.httpWrites <= 3],
    ['run <= 3 round trips (workload longer than opening a connection)',
      trips.runSleep.trips <= 3 && trips.runSleep.waitedMs < 3.5 * kLatencyMs],
    ['run <= 4 round trips (any workload)', trips.runTrue.trips <= 4 && trips.runTrue.waitedMs < 4.5 * kLatencyMs],
  ];
  for (const [what, ok] of checks) console.log(`target ${what}: ${ok ? 'met' : 'NOT met'}`);
  const targetsMet = checks.every(([, ok]) => ok);
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ iterations, calls, trips, times: st }, null, 2)}\n`);
  if (!targetsMet) process.exitCode = 1;
} finally {
  client.destroy();
  rmSync(work, { recursive: true, force: true });
}
