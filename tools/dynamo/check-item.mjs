// Reads one item with the official AWS SDK for JavaScript (GetItem,
// ConsistentRead) and prints it as one JSON line:
//   {"item": {...plain values...} | null, "types": {"attr": "N"|"S"|...}}
//
//   node check-item.mjs --table T --pk 'JOB#name' [--sk STATE] [--endpoint URL]
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { parseArgs } from 'node:util';
import { makeClient, plain, types } from './sdk.mjs';

const { values } = parseArgs({
  options: {
    table: { type: 'string' },
    pk: { type: 'string' },
    sk: { type: 'string', default: 'STATE' },
    endpoint: { type: 'string' },
  },
});
if (!values.table || !values.pk) {
  console.error('usage: node check-item.mjs --table T --pk PK [--sk SK] [--endpoint URL]');
  process.exit(2);
}
const client = makeClient(values.endpoint);
const out = await client.send(new GetItemCommand({
  TableName: values.table,
  Key: { PK: { S: values.pk }, SK: { S: values.sk } },
  ConsistentRead: true,
}));
const item = out.Item ? Object.fromEntries(Object.entries(out.Item).map(([k, v]) => [k, plain(v)])) : null;
console.log(JSON.stringify({ item, types: out.Item ? types(out.Item) : {} }));
