// (a) Connect storm: each iteration connects to /ws?channel=loadtest-storm, checks the hello,
// stays idle LOADTEST_IDLE seconds (1) expecting no frame, closes with 1000 and waits for the
// stand's close frame. LOADTEST_VUS virtual users (10) share LOADTEST_ITERATIONS (100).
//
//   k6 run -e LOADTEST_URL=ws://127.0.0.1:8002 -e LOADTEST_VUS=200 -e LOADTEST_ITERATIONS=2000 \
//       --summary-export storm.json loadtest/k6/storm.js
//
// Trends qakit_hello and qakit_close (p50, p95, p99); exit 99 on a failed check (lib.js).

import { common, CorrelationError, session, VUS } from './lib.js';

const CHANNEL = __ENV.LOADTEST_CHANNEL || 'loadtest-storm';
const IDLE_MS = 1000 * Number(__ENV.LOADTEST_IDLE || 1);

export const options = {
  ...common,
  scenarios: {
    storm: {
      executor: 'shared-iterations',
      vus: VUS,
      iterations: Number(__ENV.LOADTEST_ITERATIONS || 100),
      maxDuration: '10m',
    },
  },
  thresholds: { ...common.thresholds, qakit_hello: ['p(99)<2000'] },
};

export default async function () {
  await session(CHANNEL, async (connection) => {
    const frame = await connection.next(IDLE_MS);
    if (frame !== null) {
      throw new CorrelationError('a frame while idle', JSON.stringify(frame).slice(0, 300));
    }
  });
}
