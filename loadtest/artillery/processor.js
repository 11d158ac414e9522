// The three Artillery scenarios' steps (storm.yml, request-response.yml, fanout.yml).
//
// Artillery's WebSocket engine (`engine: ws`) opens the connection; each scenario's flow is one
// `function` step that gets it as `context.ws` (a `ws` WebSocket) and does the scenario's work:
// Artillery's own `send`/`match` steps see one reply per message, and a request of the stand
// has three or four, which must be correlated by request_id.
//
// What they record (Artillery's summary and its JSON report, `--output`):
//   histograms  qakit.hello_ms (open -> the hello), qakit.ack_ms (request -> its ack),
//               qakit.reply_ms (request -> its last frame), qakit.delivery_ms (publish -> a
//               subscriber's frame), qakit.close_ms (close -> the stand's close frame)
//   counters    qakit.correlation_errors, qakit.connection_errors, qakit.requests_answered,
//               qakit.deliveries
// and each failure as an error (`errors.correlation: ...`) with its reason printed once per
// virtual user. The YAML files' `ensure` checks make the run exit non-zero on any of them.
//
// The settings are environment variables, shared with the Locust and k6 scenarios
// (loadtest/README.md).

'use strict';

const TIMEOUT_MS = 1000 * Number(process.env.LOADTEST_TIMEOUT || 10);
const IDLE_MS = 1000 * Number(process.env.LOADTEST_IDLE || 1);
const BATCH = Number(process.env.LOADTEST_BATCH || 4);
const ROUNDS = Number(process.env.LOADTEST_ROUNDS || 5);
const PUBLISHERS = Number(process.env.LOADTEST_PUBLISHERS || 1);
const SUBSCRIBERS = Number(process.env.LOADTEST_SUBSCRIBERS || 4);
const INTERVAL_MS = 1000 * Number(process.env.LOADTEST_INTERVAL || 0.1);
const DURATION_MS = 1000 * Number(process.env.LOADTEST_DURATION || 3);

// action -> the frame types that answer it, in order (docs/protocol.md)
const REPLIES = {
  echo: ['ack', 'echo', 'event'],
  triplet_demo: ['ack', 'step', 'step', 'event'],
  broadcast: ['ack', 'message', 'event'],
};

// A frame the contract does not allow here: `what` says it in the same words for the same
// fault, the message adds which frame.
class CorrelationError extends Error {
  constructor(what, detail) {
    super(`${what}: ${detail}`);
    this.what = what;
  }
}

let users = 0; // this worker's virtual users so far: numbers them, and picks the fan-out roles

// One connection's requests and the frames answering them: the same checks as the Locust
// scenarios' correlation.py, which says them in words.
class Correlator {
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

  // Check one frame; the timings [name, ms] it completes.
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
        return [['delivery', now - named.sent_at_ms]];
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
    const timings = kind === 'ack' ? [['ack', now - request.sent]] : [];
    if (request.seen.length === REPLIES[request.action].length) {
      this.open.delete(id);
      this.answered.add(id);
      timings.push(['reply', now - request.sent]);
    }
    return timings;
  }

  publication(frame, text) {
    if (this.epoch !== undefined && frame.epoch !== this.epoch) {
      throw new CorrelationError('the epoch changed', `from ${this.epoch}: ${text}`);
    }
    if (this.offset !== null && frame.offset !== this.offset + 1) {
      throw new CorrelationError('a gap or a duplicate in the offsets', `offset ${frame.offset} after ${this.offset}: ${text}`);
    }
    let named;
    try {
      named = JSON.parse(frame.message);
    } catch (error) {
      throw new CorrelationError('not a publication of this scenario', text);
    }
    if (named === null || typeof named.sent_at_ms !== 'number') {
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

// A virtual user's connection: frames in order, each one waited for with a timeout.
class Connection {
  constructor(ws, events) {
    this.ws = ws;
    this.events = events;
    this.frames = [];
    this.waiting = null;
    this.closed = null;
    ws.on('message', (data, binary) => {
      this.frames.push(binary ? { type: '(binary)' } : parseFrame(data.toString()));
      this.wake();
    });
    ws.on('close', (code) => {
      this.closed = code;
      this.wake();
    });
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
      const how = this.closed === null ? `no frame within ${TIMEOUT_MS} ms` : `closed (${this.closed})`;
      throw new Error(`${how}, waiting for ${what()}`);
    }
    return frame;
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
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
    this.events.emit('histogram', 'qakit.close_ms', Date.now() - started);
  }
}

function parseFrame(text) {
  try {
    const frame = JSON.parse(text);
    return frame !== null && typeof frame === 'object' ? frame : { type: '(not an object)', text };
  } catch (error) {
    return { type: '(not JSON)', text };
  }
}

// The hello, then a Correlator for the connection.
async function greet(context, connection) {
  const hello = await connection.expect(() => 'the hello');
  const correlator = new Correlator(hello, context.vars.channel);
  connection.events.emit('histogram', 'qakit.hello_ms', Date.now() - context.vars.opened);
  return correlator;
}

function record(events, timings) {
  for (const [name, ms] of timings) {
    events.emit('histogram', `qakit.${name}_ms`, ms);
    events.emit('counter', name === 'delivery' ? 'qakit.deliveries' : name === 'reply' ? 'qakit.requests_answered' : 'qakit.acks', 1);
  }
}

// Run one virtual user's part; whatever fails is counted and reported, never thrown at
// Artillery (a `function` step cannot fail its virtual user: the `ensure` checks fail the run).
// The step must be the flow's first: Artillery runs it as soon as the connection is open, before
// the hello can arrive (after a step of another kind, the hello would pass unheard).
function run(part) {
  return function step(context, events, done) {
    users += 1;
    context.vars.user = `artillery-${process.pid}-${users}`;
    context.vars.number = users;
    context.vars.channel = new URL(context.ws.url).searchParams.get('channel') || 'general';
    context.vars.opened = Date.now();
    events.emit('counter', 'qakit.correlation_errors', 0); // so that `ensure` finds it
    events.emit('counter', 'qakit.connection_errors', 0);
    const connection = new Connection(context.ws, events);
    part(context, connection, events).then(
      () => done(),
      (error) => {
        const kind = error instanceof CorrelationError ? 'correlation' : 'connection';
        events.emit('counter', `qakit.${kind}_errors`, 1);
        events.emit('error', `${kind}: ${error.what || error.message.split(',')[0]}`);
        console.error(`virtual user ${context.vars.user}: ${kind}: ${error.message}`);
        context.ws.terminate();
        done();
      },
    );
  };
}

// (a) connect, check the hello, stay idle (no frame may come), close with 1000.
async function storm(context, connection) {
  await greet(context, connection);
  const frame = await connection.next(IDLE_MS);
  if (frame !== null) {
    throw new CorrelationError('a frame while idle', JSON.stringify(frame).slice(0, 300));
  }
  await connection.close();
}

// (b) ROUNDS batches of BATCH requests sent at once, echo and triplet_demo in turn, each
// answered by exactly its frames, in order, with its id.
async function requestResponse(context, connection, events) {
  const correlator = await greet(context, connection);
  let n = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    for (let i = 0; i < BATCH; i += 1) {
      n += 1;
      const requestId = `${context.vars.user}-${n}`;
      const action = i % 2 === 0 ? 'echo' : 'triplet_demo';
      correlator.sent(requestId, action);
      connection.send({ action, payload: { text: requestId }, request_id: requestId });
    }
    while (correlator.open.size > 0) {
      record(events, correlator.received(await connection.expect(() => [...correlator.open.keys()])));
    }
  }
  await connection.close();
}

// (c) the first PUBLISHERS of every PUBLISHERS + SUBSCRIBERS users publish a broadcast every
// INTERVAL, the others read; for DURATION each.
async function fanout(context, connection, events) {
  const correlator = await greet(context, connection);
  const publisher = (context.vars.number - 1) % (PUBLISHERS + SUBSCRIBERS) < PUBLISHERS;
  const until = Date.now() + DURATION_MS;
  let n = 0;
  let next = Date.now();
  while (Date.now() < until) {
    if (connection.closed !== null) {
      throw new Error(`closed by the stand (${connection.closed})`);
    }
    if (publisher && Date.now() >= next) {
      n += 1;
      const requestId = `${context.vars.user}-${n}`;
      const message = JSON.stringify({ sent_at_ms: Date.now(), request_id: requestId });
      correlator.sent(requestId, 'broadcast');
      connection.send({ action: 'broadcast', payload: { message }, request_id: requestId });
      while (correlator.open.size > 0) {
        record(events, correlator.received(await connection.expect(() => [...correlator.open.keys()])));
      }
      next += INTERVAL_MS;
    }
    const wait = publisher ? Math.max(0, Math.min(next, until) - Date.now()) : until - Date.now();
    const frame = await connection.next(Math.max(1, wait));
    if (frame !== null) {
      record(events, correlator.received(frame));
    }
  }
  await connection.close();
}

module.exports = {
  storm: run(storm),
  requestResponse: run(requestResponse),
  fanout: run(fanout),
  Correlator, // for tests/test_loadtest.py, which feeds it frames by hand
};
