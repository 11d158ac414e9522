// (c) Fan-out: publishers and subscribers in one channel, loadtest-fanout. LOADTEST_SUBSCRIBERS
// virtual users (4) subscribe and read; LOADTEST_PUBLISHERS (1), starting half a second later,
// publish a broadcast every LOADTEST_INTERVAL seconds (0.1) with its send time in the message
// (`sent_at_ms`) and check its ack, own message and event. Subscribers measure each message's
// delivery latency from that timestamp. Everyone checks every publication: offsets one after
// another from the hello's, one epoch, and the request_id its message names (lib.js). Everyone
// stays LOADTEST_DURATION seconds (3).
//
//   k6 run -e LOADTEST_URL=ws://127.0.0.1:8002 -e LOADTEST_SUBSCRIBERS=100 \
//       --summary-export fanout.json loadtest/k6/fanout.js
//
// Trends qakit_delivery (publish -> a subscriber's frame; one machine's clock), qakit_ack and
// qakit_reply (the publishers'); exit 99 on a failed check.

import exec from 'k6/execution';
import { common, session } from './lib.js';

const CHANNEL = __ENV.LOADTEST_CHANNEL || 'loadtest-fanout';
const DURATION_MS = 1000 * Number(__ENV.LOADTEST_DURATION || 3);
const INTERVAL_MS = 1000 * Number(__ENV.LOADTEST_INTERVAL || 0.1);

export const options = {
  ...common,
  scenarios: {
    subscribers: {
      executor: 'per-vu-iterations',
      vus: Number(__ENV.LOADTEST_SUBSCRIBERS || 4),
      iterations: 1,
      exec: 'subscriber',
      maxDuration: '10m',
    },
    publishers: {
      executor: 'per-vu-iterations',
      vus: Number(__ENV.LOADTEST_PUBLISHERS || 1),
      iterations: 1,
      exec: 'publisher',
      startTime: '500ms',
      maxDuration: '10m',
    },
  },
  thresholds: { ...common.thresholds, qakit_delivery: ['p(99)<2000', 'count>0'] },
};

export async function subscriber() {
  const until = Date.now() + DURATION_MS;
  await session(CHANNEL, async (connection, correlator) => {
    while (Date.now() < until) {
      if (connection.closed !== null) {
        throw new Error(`closed by the stand (${connection.closed})`);
      }
      const frame = await connection.next(Math.max(1, until - Date.now()));
      if (frame !== null) {
        correlator.received(frame);
      }
    }
  });
}

export async function publisher() {
  const until = Date.now() + DURATION_MS;
  let n = 0;
  let next = Date.now();
  await session(CHANNEL, async (connection, correlator) => {
    while (Date.now() < until) {
      if (connection.closed !== null) {
        throw new Error(`closed by the stand (${connection.closed})`);
      }
      if (Date.now() >= next) {
        n += 1;
        const requestId = `k6-${exec.vu.idInTest}-${n}`;
        const message = JSON.stringify({ sent_at_ms: Date.now(), request_id: requestId });
        correlator.sent(requestId, 'broadcast');
        connection.send({ action: 'broadcast', payload: { message }, request_id: requestId });
        await connection.answerAll(correlator); // other publishers' messages checked on the way
        next += INTERVAL_MS;
      }
      const frame = await connection.next(Math.max(1, Math.min(next, until) - Date.now()));
      if (frame !== null) {
        correlator.received(frame);
      }
    }
  });
}
