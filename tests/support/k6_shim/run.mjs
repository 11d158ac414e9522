// A stand-in for `k6 run SCRIPT` (tests/test_loadtest.py: k6 itself may not be installed
// here): runs the script's `options.scenarios` (executors shared-iterations and
// per-vu-iterations, with startTime) on Node, each virtual user in an async context of its own,
// then evaluates the thresholds (count==N, count>N, p(N)<M) and prints a JSON summary like
// `--summary-export`'s: {"metrics": {name: {count, "p(50)", "p(95)", "p(99)"}}, "thresholds":
// {name: {expression: passed}}}. Exit code 99 when a threshold fails, as k6's.
//
//   node --experimental-websocket --experimental-default-type=module \
//       --import ./register.mjs run.mjs SCRIPT
import { AsyncLocalStorage } from 'node:async_hooks';
import { pathToFileURL } from 'node:url';

const current = new AsyncLocalStorage();
globalThis.__ENV = { ...process.env };
globalThis.k6Shim = { metrics: new Map(), vu: () => current.getStore() };

const script = await import(pathToFileURL(process.argv[2]).href);
const options = script.options;
let vus = 0;

function seconds(duration) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(duration || '0s');
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60 }[match[2]];
}

async function iteration(fn, vu) {
  try {
    await fn();
  } catch (error) {
    console.error(`an iteration of VU ${vu.idInTest} failed: ${error.stack || error}`);
  }
  vu.iterationInScenario += 1;
}

async function scenario(name, spec) {
  await new Promise((resolve) => setTimeout(resolve, seconds(spec.startTime) * 1000));
  const fn = script[spec.exec || 'default'];
  let shared = spec.iterations;
  const users = [];
  for (let i = 0; i < spec.vus; i += 1) {
    vus += 1;
    const vu = { idInTest: vus, iterationInScenario: 0 };
    users.push(
      current.run(vu, async () => {
        if (spec.executor === 'shared-iterations') {
          while (shared > 0) {
            shared -= 1;
            await iteration(fn, vu);
          }
        } else if (spec.executor === 'per-vu-iterations') {
          for (let n = 0; n < spec.iterations; n += 1) {
            await iteration(fn, vu);
          }
        } else {
          throw new Error(`${name}: executor ${spec.executor} is not in this stand-in`);
        }
      }),
    );
  }
  await Promise.all(users);
}

function percentile(sorted, p) {
  if (sorted.length === 0) {
    return 0;
  }
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

function value(metric, aggregate) {
  if (aggregate === 'count') {
    return metric.type === 'counter' ? metric.values.reduce((a, b) => a + b, 0) : metric.values.length;
  }
  const p = /^p\((\d+(?:\.\d+)?)\)$/.exec(aggregate);
  if (p === null) {
    throw new Error(`aggregate ${aggregate} is not in this stand-in`);
  }
  return percentile([...metric.values].sort((a, b) => a - b), Number(p[1]));
}

await Promise.all(Object.entries(options.scenarios).map(([name, spec]) => scenario(name, spec)));

const summary = { metrics: {}, thresholds: {} };
for (const metric of globalThis.k6Shim.metrics.values()) {
  summary.metrics[metric.name] = { type: metric.type, count: value(metric, 'count') };
  if (metric.type === 'trend') {
    for (const p of ['p(50)', 'p(95)', 'p(99)']) {
      summary.metrics[metric.name][p] = value(metric, p);
    }
  }
}
let failed = false;
for (const [name, expressions] of Object.entries(options.thresholds || {})) {
  summary.thresholds[name] = {};
  for (const expression of expressions) {
    const [, aggregate, operator, bound] = /^(.+?)(==|<=|>=|<|>)(.+)$/.exec(expression);
    const metric = globalThis.k6Shim.metrics.get(name);
    const got = metric === undefined ? 0 : value(metric, aggregate.trim());
    const passed = {
      '==': got === Number(bound),
      '<': got < Number(bound),
      '>': got > Number(bound),
      '<=': got <= Number(bound),
      '>=': got >= Number(bound),
    }[operator];
    summary.thresholds[name][expression] = passed;
    failed ||= !passed;
  }
}
console.log(JSON.stringify(summary));
process.exit(failed ? 99 : 0);
