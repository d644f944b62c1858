// The Prometheus text exposition format (0.0.4) read by an independent
// parser, parse-prometheus-text-format, for jobgate's metrics parse test
// (tests/metrics/metrics_parse_test.cc).
//
//   node parse.mjs < exposition.txt
//
// Prints one JSON object on stdout:
//   families  the parser's own result: [{name, help, type, metrics}], type
//             upper case (COUNTER, GAUGE, HISTOGRAM, UNTYPED), every sample
//             value a string as written ("3", "+Inf", "NaN"): the parser
//             does not read numbers
//   samples   every sample line on its own: [{name, labels, value}]
// Exits 1 with a message on stderr when the input is not valid UTF-8 or
// the parser refuses it.
//
// Why `samples`: for a histogram the parser folds the bucket lines of all
// series into one `buckets` map keyed by `le` alone, and drops `_sum` and
// `_count` when the series have labels; only a histogram without labels
// comes out whole. `samples` is the same parser run on the text without its
// `# TYPE` lines: every sample name is then a family of its own, untyped,
// whose samples the parser leaves as they are.
import parse from "parse-prometheus-text-format";
import { readFileSync } from "node:fs";

function fail(message) {
  process.stderr.write(`parse.mjs: ${message}\n`);
  process.exit(1);
}

let text;
try {
  // fatal: invalid UTF-8 is an error, not silently U+FFFD (as a plain
  // utf8 read would make it).
  text = new TextDecoder("utf-8", { fatal: true }).decode(readFileSync(0));
} catch (e) {
  fail(`input is not valid UTF-8: ${e.message}`);
}

try {
  const families = parse(text);
  const untyped = text
    .split("\n")
    .filter((line) => !line.startsWith("# TYPE "))
    .join("\n");
  const samples = [];
  for (const family of parse(untyped)) {
    for (const m of family.metrics) samples.push({ name: family.name, labels: m.labels ?? {}, value: m.value });
  }
  process.stdout.write(JSON.stringify({ families, samples }) + "\n");
} catch (e) {
  fail(e.message);
}
