// A fault-injecting HTTP proxy for the DynamoDB JSON API, for tests and the
// benchmark: it sits between jobgate and dynalite on 127.0.0.1, logs every
// request it sees (one JSON line each) and answers some of them wrongly.
//
//   node fault-proxy.mjs --upstream http://127.0.0.1:PORT --port-file F --log F
//                        [--fault KIND] [--ops GetItem,UpdateItem,...] [--skip K] [--count N]
//                        [--close-each] [--all-old] [--latency-ms N]
//
// A request "matches" when its X-Amz-Target operation is in --ops (default:
// any). The first --skip matching requests pass; the next --count (default 1;
// -1 = all of them) get the fault; everything else passes through untouched.
//
// Faults (what real DynamoDB or the network can do to a client):
//   none                pass through (count requests only)
//   500                 500 InternalServerError, not forwarded
//   throttle            400 ThrottlingException, not forwarded
//   provisioned         400 ProvisionedThroughputExceededException, not forwarded
//   500-after-forward   forwarded (the write applies), then 500 instead of the answer
//   drop-after-forward  forwarded (the write applies), then the connection is
//                       closed without any response: "the response was lost"
//   drop                the connection is closed, nothing forwarded
//
// --all-old answers what real DynamoDB answers and dynalite does not: a
// conditional write that asked for ReturnValuesOnConditionCheckFailure =
// ALL_OLD and failed its condition gets the item in its error body. The
// proxy reads the item (a consistent GetItem of the write's key, not
// logged: DynamoDB does this inside the failed write) and adds it.
//
// --close-each answers every request with "Connection: close", so each
// request of the client goes on a fresh connection. Without it connections
// are kept alive, and libcurl silently re-sends a request whose reused
// connection died before any response byte ("Connection died, retrying a
// fresh connect"): the client then never sees the lost response, only the
// answer to the re-sent write. Tests need both paths.
//
// --latency-ms N holds every forwarded answer until N ms after its request
// arrived (longer if the upstream takes longer), as a distant endpoint
// would: the benchmark counts sequential round trips with it.
//
// Log line: {"seq":1,"op":"GetItem","fault":null,"status":200,"t0":12.3,"t1":14.1};
// status is what the client got (0 when the connection was dropped); t0 and
// t1 (ms, this process's monotonic clock) are when the request had arrived
// and when its answer left; `capacity` is the ConsumedCapacity units the
// answer reported, if any. A request without an operation (jobgate opening a
// connection with `GET /`) is logged with op "GET".
import http from 'node:http';
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    'port-file': { type: 'string' },
    log: { type: 'string' },
    fault: { type: 'string', default: 'none' },
    ops: { type: 'string', default: '' },
    skip: { type: 'string', default: '0' },
    count: { type: 'string', default: '1' },
    'close-each': { type: 'boolean', default: false },
    'all-old': { type: 'boolean', default: false },
    'latency-ms': { type: 'string', default: '0' },
  },
});
if (!values.upstream) {
  console.error('fault-proxy: --upstream http://127.0.0.1:PORT is required');
  process.exit(2);
}
const upstream = new URL(values.upstream);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(upstream.hostname)) {
  // Tests talk to this machine only.
  console.error(`fault-proxy: upstream must be on 127.0.0.1, got ${upstream.hostname}`);
  process.exit(2);
}
const kFaults = ['none', '500', 'throttle', 'provisioned', '500-after-forward', 'drop-after-forward', 'drop'];
if (!kFaults.includes(values.fault)) {
  console.error(`fault-proxy: --fault must be one of ${kFaults.join(', ')}, got '${values.fault}'`);
  process.exit(2);
}
const ops = new Set(values.ops.split(',').filter(Boolean));
let toSkip = Number(values.skip);
let toFault = Number(values.count);
let seq = 0;
const latencyMs = Number(values['latency-ms']);
const now = () => Number(process.hrtime.bigint()) / 1e6;

// The capacity units an answer reports (one object, or one per table).
function capacityOf(body) {
  try {
    const c = JSON.parse(body.toString()).ConsumedCapacity;
    if (!c) return undefined;
    return (Array.isArray(c) ? c : [c]).reduce((sum, x) => sum + (x.CapacityUnits || 0), 0);
  } catch {
    return undefined;
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function errorBody(type, message) {
  return JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message });
}

function answer(res, status, body) {
  const headers = {
    'Content-Type': 'application/x-amz-json-1.0',
    'Content-Length': Buffer.byteLength(body),
    'x-amzn-RequestId': `fault-proxy-${seq}`,
  };
  if (values['close-each']) headers.Connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

function log(entry) {
  if (values.log) appendFileSync(values.log, `${JSON.stringify(entry)}\n`);
}

// Decides whether this request gets the fault (and consumes the budget).
function pickFault(op) {
  if (values.fault === 'none') return null;
  if (ops.size > 0 && !ops.has(op)) return null;
  if (toSkip > 0) {
    --toSkip;
    return null;
  }
  if (toFault === 0) return null;
  if (toFault > 0) --toFault;
  return values.fault;
}

function forward(req, body, done) {
  const up = http.request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    },
    (upRes) => {
      const chunks = [];
      upRes.on('data', (c) => chunks.push(c));
      upRes.on('end', () => done(null, upRes, Buffer.concat(chunks)));
    },
  );
  up.on('error', (err) => done(err));
  up.end(body);
}

// The failed write's key: UpdateItem and DeleteItem name it, PutItem's item
// holds it (PK and SK, as jobgate's table has them).
function keyOf(request) {
  if (request.Key) return request.Key;
  if (request.Item && request.Item.PK && request.Item.SK) return { PK: request.Item.PK, SK: request.Item.SK };
  return null;
}

// --all-old: the item that failed the condition, added to the error body.
function withAllOld(req, body, upRes, upBody, done) {
  let request;
  let error;
  try {
    request = JSON.parse(body.toString());
    error = JSON.parse(upBody.toString());
  } catch {
    return done(upBody);
  }
  const failed = upRes.statusCode === 400 && String(error.__type || '').endsWith('#ConditionalCheckFailedException');
  const key = keyOf(request);
  if (!failed || request.ReturnValuesOnConditionCheckFailure !== 'ALL_OLD' || error.Item || !key) return done(upBody);
  const get = JSON.stringify({ TableName: request.TableName, Key: key, ConsistentRead: true });
  const headers = { ...req.headers, 'x-amz-target': 'DynamoDB_20120810.GetItem', 'content-length': Buffer.byteLength(get) };
  forward({ method: 'POST', url: '/', headers }, Buffer.from(get), (err, getRes, getBody) => {
    if (err || getRes.statusCode !== 200) return done(upBody);
    const item = JSON.parse(getBody.toString()).Item;
    return done(item ? Buffer.from(JSON.stringify({ ...error, Item: item })) : upBody);
  });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const target = req.headers['x-amz-target'] || '';
    const op = target.includes('.') ? target.slice(target.indexOf('.') + 1) : target || req.method;
    const n = ++seq;
    const fault = pickFault(op);
    const entry = { seq: n, op, fault, t0: now() };
    // Every request is logged before its answer leaves: a client that has
    // its answer (and exits) finds it in the log.
    if (fault === '500') {
      log({ ...entry, status: 500 });
      return answer(res, 500, errorBody('InternalServerError', 'Internal server error (injected by fault-proxy)'));
    }
    if (fault === 'throttle') {
      log({ ...entry, status: 400 });
      return answer(res, 400, errorBody('ThrottlingException', 'Rate of requests exceeds the allowed throughput.'));
    }
    if (fault === 'provisioned') {
      log({ ...entry, status: 400 });
      return answer(res, 400, errorBody('ProvisionedThroughputExceededException',
        'The level of configured provisioned throughput for the table was exceeded.'));
    }
    if (fault === 'drop') {
      log({ ...entry, status: 0 });
      return req.socket.destroy();
    }
    forward(req, body, (err, upRes, upBody) => {
      if (err) {
        log({ ...entry, status: 502, error: err.message });
        return answer(res, 502, errorBody('InternalServerError', `fault-proxy: upstream: ${err.message}`));
      }
      if (fault === 'drop-after-forward') {
        log({ ...entry, status: 0, upstream_status: upRes.statusCode });
        return req.socket.destroy();
      }
      if (fault === '500-after-forward') {
        log({ ...entry, status: 500, upstream_status: upRes.statusCode });
        return answer(res, 500, errorBody('InternalServerError', 'Internal server error (injected after the write)'));
      }
      const reply = (sent) => {
        const headers = { ...upRes.headers };
        delete headers['transfer-encoding'];
        headers['content-length'] = sent.length;
        if (values['close-each']) headers.connection = 'close';
        log({ ...entry, status: upRes.statusCode, ...(sent !== upBody ? { all_old: true } : {}),
          capacity: capacityOf(sent), t1: now() });
        res.writeHead(upRes.statusCode, headers);
        res.end(sent);
      };
      const delayed = (sent) => {
        const wait = entry.t0 + latencyMs - now();
        return wait > 0 ? setTimeout(() => reply(sent), wait) : reply(sent);
      };
      if (values['all-old']) return withAllOld(req, body, upRes, upBody, delayed);
      return delayed(upBody);
    });
  });
});
server.keepAliveTimeout = 30_000;

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  if (values['port-file']) {
    writeFileSync(`${values['port-file']}.tmp`, `${port}\n`);
    renameSync(`${values['port-file']}.tmp`, values['port-file']);
  }
});
server.on('error', (err) => {
  console.error(`fault-proxy: ${err.message}`);
  process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
