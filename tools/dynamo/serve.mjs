// Starts dynalite (the DynamoDB emulator) in memory on 127.0.0.1 and writes
// the port it got to --port-file once it listens. Port 0 (the default) lets
// the kernel pick a free port, so two test runs never collide; dynalite's
// own cli.js cannot do that (it treats port 0 as "use 4567").
//
//   node serve.mjs [--port N] [--port-file FILE] [--pid-file FILE] [--create-table-ms MS]
//
// --pid-file gets this process's pid at once (a launcher such as setsid may
// fork, so the shell's $! is not always it).
//
// Tables go ACTIVE after --create-table-ms (default 0 here, 500 in dynalite):
// CreateTable still answers CREATING, so a client that waits for ACTIVE is
// exercised, without half a second per table in the tests.
import { createRequire } from 'node:module';
import { writeFileSync, renameSync } from 'node:fs';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite');

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'port-file': { type: 'string' },
    'pid-file': { type: 'string' },
    'create-table-ms': { type: 'string', default: '0' },
  },
});

function writeWhole(file, text) {
  // Written whole or not at all: a reader never sees half a number.
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

if (values['pid-file']) writeWhole(values['pid-file'], `${process.pid}\n`);
const ms = Number(values['create-table-ms']);
const server = dynalite({ createTableMs: ms, deleteTableMs: ms, updateTableMs: ms });
server.listen(Number(values.port), '127.0.0.1', () => {
  const { port } = server.address();
  if (values['port-file']) writeWhole(values['port-file'], `${port}\n`);
  console.log(`dynalite listening on http://127.0.0.1:${port} (pid ${process.pid})`);
});
server.on('error', (err) => {
  console.error(`dynalite: ${err.message}`);
  process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
