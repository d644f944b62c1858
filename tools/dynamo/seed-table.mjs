// Creates a table by hand, the way the classic job_control recreation did:
// only the string keys PK and SK, no index, PAY_PER_REQUEST; waits until it
// is ACTIVE; then puts one item (DynamoDB JSON). Not through jobgate, so the
// test sees whether jobgate copes with a table it did not make.
//
//   node seed-table.mjs --table T [--item '{"PK":{"S":"JOB#x"},...}'] [--endpoint URL]
// Default item: {PK: JOB#hourly_processor, SK: STATE, status: IDLE}.
import { CreateTableCommand, DescribeTableCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeClient } from './sdk.mjs';

const { values } = parseArgs({
  options: {
    table: { type: 'string' },
    item: { type: 'string' },
    endpoint: { type: 'string' },
  },
});
if (!values.table) {
  console.error("usage: node seed-table.mjs --table T [--item JSON] [--endpoint URL]");
  process.exit(2);
}
const item = values.item ? JSON.parse(values.item)
  : { PK: { S: 'JOB#hourly_processor' }, SK: { S: 'STATE' }, status: { S: 'IDLE' } };
const client = makeClient(values.endpoint);
await client.send(new CreateTableCommand({
  TableName: values.table,
  KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }, { AttributeName: 'SK', KeyType: 'RANGE' }],
  AttributeDefinitions: [{ AttributeName: 'PK', AttributeType: 'S' }, { AttributeName: 'SK', AttributeType: 'S' }],
  BillingMode: 'PAY_PER_REQUEST',
}));
for (let i = 0; ; ++i) {
  const d = await client.send(new DescribeTableCommand({ TableName: values.table }));
  if (d.Table.TableStatus === 'ACTIVE') break;
  if (i >= 100) throw new Error(`table ${values.table} still ${d.Table.TableStatus} after 10 s`);
  await sleep(100);
}
await client.send(new PutItemCommand({ TableName: values.table, Item: item }));
console.log(JSON.stringify({ table: values.table, item }));
