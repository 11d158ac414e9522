// Feeds hand-made frames to the JavaScript correlators of the load-testing starter pack,
// Artillery's (loadtest/artillery/processor.js) and k6's (loadtest/k6/lib.js, its k6 modules
// stood in for by k6_shim/), as tests/test_loadtest.py feeds the Python one: cases as JSON on
// stdin, [{"channel", "hello", "steps": [["sent", id, action] | ["frame", frame]]}]; on
// stdout, for each case, {"artillery": error or null, "k6": error or null}.
//
//   node --experimental-default-type=module --import ./k6_shim/register.mjs correlation_feed.mjs
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

globalThis.__ENV = {};
globalThis.k6Shim = { metrics: new Map(), vu: () => undefined };
const root = new URL('../../loadtest/', import.meta.url);
const artillery = createRequire(import.meta.url)(new URL('artillery/processor.js', root).pathname);
const k6 = await import(new URL('k6/lib.js', root).href);

function feed(Correlator, { channel, hello, steps }) {
  try {
    const correlator = new Correlator(hello, channel);
    for (const [kind, ...args] of steps) {
      if (kind === 'sent') {
        correlator.sent(...args);
      } else {
        correlator.received(args[0]);
      }
    }
    return null;
  } catch (error) {
    return error.message;
  }
}

const cases = JSON.parse(readFileSync(0, 'utf8'));
console.log(
  JSON.stringify(cases.map((c) => ({ artillery: feed(artillery.Correlator, c), k6: feed(k6.Correlator, c) }))),
);
