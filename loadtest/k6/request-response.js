// (b) Request/response with correlation: each of LOADTEST_VUS virtual users (10) connects to
// /ws?channel=loadtest-rr and sends LOADTEST_ROUNDS (5) batches of LOADTEST_BATCH requests (4)
// at once, echo and triplet_demo in turn, each with a request_id of its own
// (k6-<vu>-<iteration>-<n>); each must be answered by exactly its frames, in order, with its id
// (ack, echo, event; ack, step, step, event), and no frame may claim an id already answered or
// never sent (lib.js). Each virtual user runs LOADTEST_ITERATIONS iterations (1).
//
//   k6 run -e LOADTEST_URL=ws://127.0.0.1:8002 -e LOADTEST_VUS=50 \
//       --summary-export rr.json loadtest/k6/request-response.js
//
// Trends qakit_ack and qakit_reply (request -> its event; p50, p95, p99); exit 99 on a failed
// check.

import exec from 'k6/execution';
import { common, session, VUS } from './lib.js';

const CHANNEL = __ENV.LOADTEST_CHANNEL || 'loadtest-rr';
const ROUNDS = Number(__ENV.LOADTEST_ROUNDS || 5);
const BATCH = Number(__ENV.LOADTEST_BATCH || 4);

export const options = {
  ...common,
  scenarios: {
    requests: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: Number(__ENV.LOADTEST_ITERATIONS || 1),
      maxDuration: '10m',
    },
  },
  thresholds: { ...common.thresholds, qakit_reply: ['p(99)<2000'] },
};

export default async function () {
  const prefix = `k6-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  let n = 0;
  await session(CHANNEL, async (connection, correlator) => {
    for (let round = 0; round < ROUNDS; round += 1) {
      for (let i = 0; i < BATCH; i += 1) {
        n += 1;
        const requestId = `${prefix}-${n}`;
        const action = i % 2 === 0 ? 'echo' : 'triplet_demo';
        correlator.sent(requestId, action);
        connection.send({ action, payload: { text: requestId }, request_id: requestId });
      }
      await connection.answerAll(correlator);
    }
  });
}
