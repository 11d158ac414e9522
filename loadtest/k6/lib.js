// What the three k6 scenarios share: their settings, their metrics, a connection that hands
// over frames one by one with a timeout, and the correlation checks (the same as the Locust
// scenarios' correlation.py, which says them in words, and Artillery's processor.js).
//
// Metrics (k6's end-of-test summary, `--summary-export`): trends qakit_hello (connect -> the
// hello), qakit_ack (request -> its ack), qakit_reply (request -> its last frame),
// qakit_delivery (publish -> a subscriber's frame), qakit_close (close -> the stand's close
// frame), in milliseconds; counters qakit_correlation_errors and qakit_connection_errors, which
// each script's thresholds require to stay 0 (k6 then exits with 99 when one is not).

import { WebSocket } from 'k6/websockets';
import { Counter, Trend } from 'k6/metrics';
import { clearTimeout, setTimeout } from 'k6/timers';

export const URL = __ENV.LOADTEST_URL || 'ws://127.0.0.1:8002';
export const TIMEOUT_MS = 1000 * Number(__ENV.LOADTEST_TIMEOUT || 10);
export const VUS = Number(__ENV.LOADTEST_VUS || 10);

export const metrics = {
  hello: new Trend('qakit_hello', true),
  ack: new Trend('qakit_ack', true),
  reply: new Trend('qakit_reply', true),
  delivery: new Trend('qakit_delivery', true),
  close: new Trend('qakit_close', true),
  correlationErrors: new Counter('qakit_correlation_errors'),
  connectionErrors: new Counter('qakit_connection_errors'),
};

// the options every script shares: percentiles in the summary, no failed check allowed
export const common = {
  summaryTrendStats: ['min', 'p(50)', 'p(95)', 'p(99)', 'max', 'count'],
  thresholds: {
    qakit_correlation_errors: ['count==0'],
    qakit_connection_errors: ['count==0'],
  },
};

// action -> the frame types that answer it, in order (docs/protocol.md)
const REPLIES = {
  echo: ['ack', 'echo', 'event'],
  triplet_demo: ['ack', 'step', 'step', 'event'],
  broadcast: ['ack', 'message', 'event'],
};

export // A frame the contract does not allow here: `what` says it in the same words for the same
// fault, the message adds which frame.
class CorrelationError extends Error {
  constructor(what, detail) {
    super(`${what}: ${detail}`);
    this.what = what;
  }
}

// One connection's requests and the frames answering them.
export class Correlator {
  constructor(hello, channel) {
    if (hello.type !== 'system' || hello.channel !== channel || !hello.connection_id) {
      throw new CorrelationError(`not the hello of channel ${channel}`, JSON.stringify(hello).slice(0, 300));
    }
    this.connectionId = hello.connection_id;
    this.epoch = hello.epoch;
    this.offset = Number.isInteger(hello.offset) ? hello.offset : null;
    this.open = new Map(); // request_id -> {action, sent, seen}
    this.answered = new Set();
  }

  sent(requestId, action) {
    this.open.set(requestId, { action, sent: Date.now(), seen: [] });
  }

  // Check one frame; record the timings it completes.
  received(frame) {
    const now = Date.now();
    const kind = frame.type;
    const id = frame.request_id;
    const text = JSON.stringify(frame).slice(0, 300);
    if (kind === 'message') {
      const named = this.publication(frame, text);
      if (frame.from !== this.connectionId) {
        if (this.open.has(id) || this.answered.has(id)) {
          throw new CorrelationError("another connection's message claims our id", text);
        }
        metrics.delivery.add(now - named.sent_at_ms);
        return;
      }
    }
    if (this.answered.has(id)) {
      throw new CorrelationError('a frame claims a request whose frames had all arrived', text);
    }
    const request = this.open.get(id);
    if (request === undefined) {
      throw new CorrelationError('a frame claims an id this connection never sent', text);
    }
    const expected = REPLIES[request.action][request.seen.length];
    if (kind !== expected) {
      const after = request.seen.join('+') || 'nothing';
      throw new CorrelationError(`${request.action}: expected ${expected} after ${after}`, text);
    }
    if (kind === 'event' && frame.name !== `ws.${request.action}`) {
      throw new CorrelationError(`${request.action}: the event of another action`, text);
    }
    request.seen.push(kind);
    if (kind === 'ack') {
      metrics.ack.add(now - request.sent);
    }
    if (request.seen.length === REPLIES[request.action].length) {
      this.open.delete(id);
      this.answered.add(id);
      metrics.reply.add(now - request.sent);
    }
  }

  publication(frame, text) {
    if (this.epoch !== undefined && frame.epoch !== this.epoch) {
      throw new CorrelationError('the epoch changed', `from ${this.epoch}: ${text}`);
    }
    if (this.offset !== null && frame.offset !== this.offset + 1) {
      throw new CorrelationError('a gap or a duplicate in the offsets', `offset ${frame.offset} after ${this.offset}: ${text}`);
    }
    let named = null;
    try {
      named = JSON.parse(frame.message);
    } catch (error) {
      // checked below
    }
    if (named === null || typeof named !== 'object' || typeof named.sent_at_ms !== 'number') {
      throw new CorrelationError('not a publication of this scenario', text);
    }
    if (named.request_id !== frame.request_id) {
      throw new CorrelationError('a message claims another id than it names', text);
    }
    this.epoch = frame.epoch;
    this.offset = Number.isInteger(frame.offset) ? frame.offset : null;
    return named;
  }
}

// A connection to /ws?channel=CHANNEL: frames in order, each waited for with a timeout.
export class Connection {
  constructor(channel) {
    this.channel = channel;
    this.started = Date.now();
    this.frames = [];
    this.waiting = null;
    this.closed = null;
    this.ws = new WebSocket(`${URL}/ws?channel=${encodeURIComponent(channel)}`);
    this.ws.onmessage = (event) => {
      this.frames.push(parseFrame(event.data));
      this.wake();
    };
    this.ws.onclose = (event) => {
      this.closed = event && event.code !== undefined ? event.code : 'closed';
      this.wake();
    };
    this.ws.onerror = (event) => {
      this.error = event && event.error ? event.error : 'error';
      this.wake();
    };
  }

  wake() {
    if (this.waiting !== null) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve();
    }
  }

  // The next frame; null if none came within `ms` (or the connection closed).
  async next(ms) {
    if (this.frames.length === 0 && this.closed === null) {
      let timer;
      await new Promise((resolve) => {
        this.waiting = resolve;
        timer = setTimeout(resolve, ms);
      });
      clearTimeout(timer);
      this.waiting = null;
    }
    return this.frames.length > 0 ? this.frames.shift() : null;
  }

  // The next frame, which must come within LOADTEST_TIMEOUT.
  async expect(what) {
    const frame = await this.next(TIMEOUT_MS);
    if (frame === null) {
      const how = this.closed === null ? `no frame within ${TIMEOUT_MS} ms` : `closed (${this.closed}, ${this.error})`;
      throw new Error(`${how}, waiting for ${what()}`);
    }
    return frame;
  }

  // The hello, then a Correlator for the connection.
  async greet() {
    const hello = await this.expect(() => 'the hello');
    const correlator = new Correlator(hello, this.channel);
    metrics.hello.add(Date.now() - this.started);
    return correlator;
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  // Read until every request of `correlator` is answered.
  async answerAll(correlator) {
    while (correlator.open.size > 0) {
      correlator.received(await this.expect(() => [...correlator.open.keys()]));
    }
  }

  // Close with 1000 and wait for the stand's close frame.
  async close() {
    const started = Date.now();
    this.ws.close(1000);
    while (this.closed === null && Date.now() - started < TIMEOUT_MS) {
      await this.next(TIMEOUT_MS);
    }
    if (this.closed === null) {
      throw new Error(`no close frame within ${TIMEOUT_MS} ms`);
    }
    metrics.close.add(Date.now() - started);
  }

  // Count a failure, say why, drop the connection.
  failed(error) {
    const correlation = error instanceof CorrelationError;
    (correlation ? metrics.correlationErrors : metrics.connectionErrors).add(1);
    console.error(`${correlation ? 'correlation' : 'connection'}: ${error.message}`);
    if (this.closed === null) {
      this.ws.close(1000);
    }
  }
}

function parseFrame(data) {
  if (typeof data !== 'string') {
    return { type: '(binary)' };
  }
  try {
    const frame = JSON.parse(data);
    return frame !== null && typeof frame === 'object' ? frame : { type: '(not an object)', text: data };
  } catch (error) {
    return { type: '(not JSON)', text: data };
  }
}

// Run one part of a scenario on a new connection; a failure is counted, never thrown.
export async function session(channel, part) {
  metrics.correlationErrors.add(0); // so that the thresholds see the counters
  metrics.connectionErrors.add(0);
  const connection = new Connection(channel);
  try {
    await part(connection, await connection.greet());
    await connection.close();
  } catch (error) {
    connection.failed(error);
  }
}
