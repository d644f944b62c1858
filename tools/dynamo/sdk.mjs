// The official AWS SDK for JavaScript, configured for a local emulator: the
// independent second implementation the tests check jobgate's items against.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

// Endpoint from --endpoint or JOBGATE_TEST_DYNAMODB_ENDPOINT; dummy
// credentials unless the environment has some (dynalite checks none).
// Node 20 is what this machine has; the SDK's notice about node 22 is noise
// in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export function makeClient(endpoint) {
  const url = endpoint || process.env.JOBGATE_TEST_DYNAMODB_ENDPOINT;
  if (!url) throw new Error('no endpoint: pass --endpoint or set JOBGATE_TEST_DYNAMODB_ENDPOINT');
  return new DynamoDBClient({
    endpoint: url,
    region: process.env.AWS_REGION || 'us-east-1',
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'test',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'test',
    },
  });
}

// A DynamoDB attribute value as plain JSON. Numbers become JS numbers: every
// number jobgate stores (epoch ms, counters) is below 2^53.
export function plain(av) {
  const [type, v] = Object.entries(av)[0];
  switch (type) {
    case 'S': case 'BOOL': return v;
    case 'N': return Number(v);
    case 'NULL': return null;
    case 'L': return v.map(plain);
    case 'M': return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
    case 'SS': return [...v];
    case 'NS': return v.map(Number);
    case 'B': return Buffer.from(v).toString('base64');
    default: return v;
  }
}

// The attribute types of an item: {"version": "N", "status": "S", ...}.
export function types(item) {
  return Object.fromEntries(Object.entries(item).map(([k, av]) => [k, Object.keys(av)[0]]));
}
