// Fire times from croner, an independent cron engine, for jobgate's
// differential schedule test (tests/cron_diff/croner_diff_test.cc) and
// the schedule benchmark (scripts/bench.sh schedule).
//
//   node next.mjs              reads `expr<TAB>tz<TAB>start_epoch_ms<TAB>count`
//                              lines on stdin; prints, per line, the next
//                              `count` fire times strictly after the start as
//                              epoch ms separated by spaces (fewer when there
//                              are fewer), or `error: MESSAGE`
//   node next.mjs --bench S    the same lines; for each, computes fire times one
//                              after the other (each from the previous one)
//                              for at least S seconds, and prints
//                              `expr<TAB>tz<TAB>fires_per_second<TAB>fires`
//
// Expressions: classic 5-field crontab lines and @macros, and EventBridge
// `cron(min hour dom month dow year)` (1 = Sunday in day-of-week).
import { Cron } from "croner";
import { createInterface } from "node:readline";

// Options that give croner jobgate's crontab semantics (docs/schedules.md),
// as far as croner can express them:
// - domAndDow false: Vixie's OR of day-of-month and day-of-week when both
//   are restricted. croner counts a field as unrestricted only when it is
//   exactly `*`, Vixie (and jobgate) when it starts with `*`; vixieDays()
//   below asks for AND explicitly in the `*/n` case.
// - sloppyRanges: `5/10` is 5-max/10 in cronie and jobgate.
// - fixedTimeRule "no-wildcard": lists and ranges in minute and hour make a
//   fixed-time job for DST, as in Vixie cron.
const crontabOptions = { mode: "5-part", domAndDow: false, sloppyRanges: true, fixedTimeRule: "no-wildcard" };
// EventBridge: a year field, 1 = Sunday, exactly one of dom/dow is `?`.
const eventBridgeOptions = { mode: "7-part", alternativeWeekdays: true, sloppyRanges: true };

// Vixie cron treats day-of-month or day-of-week as unrestricted when it
// starts with `*` (`*/2` too) and then ANDs the two; croner ORs unless told
// (`+` before day-of-week) when neither is exactly `*`.
function vixieDays(fields) {
  const [dom, dow] = [fields[2], fields[4]];
  const domStar = dom.startsWith("*");
  const dowStar = dow.startsWith("*");
  if ((domStar || dowStar) && dom !== "*" && dow !== "*") fields[4] = "+" + dow;
  return fields;
}

function makeCron(expr, tz) {
  const options = { timezone: tz || "UTC" };
  const m = /^cron\((.*)\)$/.exec(expr.trim());
  if (m) return new Cron("0 " + m[1], { ...eventBridgeOptions, ...options });
  let pattern = expr.trim();
  if (!pattern.startsWith("@")) pattern = vixieDays(pattern.split(/\s+/)).join(" ");
  return new Cron(pattern, { ...crontabOptions, ...options });
}

function fireTimes(line) {
  const [expr, tz, startText, countText] = line.split("\t");
  try {
    const cron = makeCron(expr, tz);
    const runs = cron.nextRuns(Number(countText), new Date(Number(startText)));
    return runs.map((d) => String(d.getTime())).join(" ");
  } catch (e) {
    return "error: " + String(e.message || e).replace(/\s+/g, " ");
  }
}

// Fires per second of computing each fire time from the previous one, the
// way a scheduler walks a schedule (and jobgate's bench calls NextAfter).
function bench(line, seconds) {
  const [expr, tz, startText] = line.split("\t");
  const cron = makeCron(expr, tz);
  const start = new Date(Number(startText));
  let previous = start;
  // Warm-up (V8 compiles the hot paths), untimed.
  for (let i = 0; i < 2000; ++i) previous = cron.nextRun(previous) ?? start;
  previous = start;
  let fires = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < seconds) {
    for (let i = 0; i < 1000; ++i) {
      const next = cron.nextRun(previous);
      previous = next === null ? start : next;
      ++fires;
    }
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  return [expr, tz, (fires / elapsed).toFixed(0), fires].join("\t");
}

const benchAt = process.argv.indexOf("--bench");
const benchSeconds = benchAt >= 0 ? Number(process.argv[benchAt + 1] || "1") : 0;
const out = [];
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() === "") continue;
  out.push(benchSeconds > 0 ? bench(line, benchSeconds) : fireTimes(line));
  if (out.length >= 1000) {
    process.stdout.write(out.join("\n") + "\n");
    out.length = 0;
  }
}
if (out.length > 0) process.stdout.write(out.join("\n") + "\n");
