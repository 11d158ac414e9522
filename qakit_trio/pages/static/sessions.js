// Recorded WebSocket sessions and their two files, for the playground (its own session) and
// the inspector (the frames it was sent). The same files as qakit_trio/wire/sessions.py reads
// and writes (`qakit-trio replay`), built the same way:
//
// HAR 1.2 (.har), as Chrome DevTools saves it: one entry per connection, in the order they
// opened, `_resourceType: "websocket"`, `request.url` the connection's (no token in it),
// `response.status` 101, `connection` its name, and its frames in `_webSocketMessages`:
// {type: "send"|"receive", time: <seconds since the epoch>, opcode: 1|2, data} (opcode 2: a
// binary frame, its data in base64).
// JSON lines (.jsonl): one frame a line, every connection's in the order they passed:
// {conn, url, direction: "send"|"receive", time, request_id?, opcode?: 2, data}.
//
// A session here: {connections: [{name, url, started, frames: [{direction, time, data,
// opcode}]}]}, times in seconds since the epoch. Nothing here touches the page but
// `download`: the builders run in Node too (tests/web/test_sessions_js.py).
"use strict";

const Sessions = (() => {
  const TEXT = 1;
  const BINARY = 2;
  const CREATOR = "qakit-trio";
  const MAX_FRAMES = 20_000;  // a recording keeps at most this many (then stops, and says so)

  // seconds since the epoch, as finely as the browser tells (performance: sub-millisecond)
  function now() {
    if (typeof performance !== "undefined" && performance.timeOrigin) {
      return (performance.timeOrigin + performance.now()) / 1000;
    }
    return Date.now() / 1000;
  }

  function base64(bytes) {
    let binary = "";
    for (let start = 0; start < bytes.length; start += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(start, start + 0x8000));
    }
    return btoa(binary);
  }

  // a frame's data as the files keep it: text as it is, bytes in base64 (opcode 2)
  function frame(direction, time, data) {
    if (typeof data === "string") return {direction, time, data, opcode: TEXT};
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    return {direction, time, data: base64(bytes), opcode: BINARY};
  }

  // the request_id of a text frame that is a JSON object with one (null: none)
  function requestIdOf(data, opcode = TEXT) {
    if (opcode !== TEXT || !data.startsWith("{")) return null;
    try {
      const value = JSON.parse(data);
      const id = value && typeof value === "object" && !Array.isArray(value)
        ? value.request_id : undefined;
      return id === undefined ? null : id;
    } catch {
      return null;
    }
  }

  // the URL as a file keeps it: no secret in it (the token, a class code)
  function cleanUrl(url) {
    const parsed = new URL(url);
    const secrets = ["token", "class_code"].filter((name) => parsed.searchParams.has(name));
    if (!secrets.length) return url;
    for (const secret of secrets) parsed.searchParams.delete(secret);
    return parsed.toString();
  }

  // ---- recording (the playground) -------------------------------------------------------
  class Recorder {
    constructor(clock = now, limit = MAX_FRAMES) {
      this.clock = clock;
      this.limit = limit;
      this.connections = [];
      this.count = 0;
      this.full = false;  // the limit was reached: later frames are not kept
      this.opened = 0;
    }

    open(url) {
      const conn = {name: String(++this.opened), url: cleanUrl(url), started: this.clock(),
                    frames: [], closed: false};
      this.connections.push(conn);
      return conn;
    }

    record(conn, direction, data) {
      if (!conn) return false;
      if (this.count >= this.limit) {
        this.full = true;
        return false;
      }
      conn.frames.push(frame(direction, this.clock(), data));
      this.count += 1;
      return true;
    }

    close(conn) { if (conn) conn.closed = true; }

    // forget what was recorded; a connection still open goes on, from now
    clear() {
      this.connections = this.connections.filter((conn) => !conn.closed);
      for (const conn of this.connections) {
        conn.frames = [];
        conn.started = this.clock();
      }
      this.count = 0;
      this.full = false;
    }

    session() { return {connections: this.connections}; }
  }

  // ---- the inspector's frames -----------------------------------------------------------
  // A frame row of /ws/_inspect (wire/inspect.py), kept with the watch in force when it came:
  // "in" (from its client) is send, "out" (to it) receive. A publication reached every member
  // of its channel and names none: it is one of the connection's frames only when the page
  // watched that connection alone (its own copy, an "out" of the same text, is kept instead).
  // `known`: connection id -> {hub, channel} of the connection table (its URL's), if listed,
  // and its subscriptions: `channels`, all of them if `all` (a publication to another channel
  // came before the watch changed).
  function fromInspector(kept, wsBase, known = new Map()) {
    const connections = new Map();
    const connection = (id, seen) => {
      if (!connections.has(id)) {
        const row = known.get(id) ?? seen;
        const query = row.hub === "/ws" && row.channel
          ? `?channel=${encodeURIComponent(row.channel)}` : "";
        connections.set(id, {name: id, url: `${wsBase}${row.hub}${query}`, started: null,
                             frames: [], own: new Map()});
      }
      return connections.get(id);
    };
    for (const {row} of kept) {  // the own copies first: which publications they stand for
      if (row.dir === "out") {
        const own = connection(row.conn, row).own;
        own.set(row.text, (own.get(row.text) ?? 0) + 1);
      }
    }
    for (const {row, watch} of kept) {
      let conn = row.conn;
      let direction = {in: "send", out: "receive"}[row.dir];
      if (row.dir === "publish") {
        if (!watch || !watch.conn || !row.delivered) continue;
        const listed = known.get(watch.conn);
        if (listed && (listed.hub !== row.hub || (listed.all && listed.channel !== row.channel &&
                                                  !listed.channels.includes(row.channel)))) {
          continue;
        }
        const own = connection(watch.conn, row).own;
        if (own.get(row.text)) {  // it published this one: its copy is its "out"
          own.set(row.text, own.get(row.text) - 1);
          continue;
        }
        conn = watch.conn;
        direction = "receive";
      }
      if (!direction || !conn) continue;
      const time = epochSeconds(row.ts);
      const item = frame(direction, time, row.binary ? new TextEncoder().encode(row.text)
        : row.text);
      if (row.truncated) item.truncated = true;  // only its start: the stand sends 4096 chars
      connection(conn, row).frames.push(item);
    }
    const result = [...connections.values()].filter((conn) => conn.frames.length);
    for (const conn of result) {
      delete conn.own;
      conn.started = conn.frames[0].time;
    }
    return {connections: result};
  }

  // an ISO 8601 time with microseconds (the stand's `ts`) as seconds since the epoch
  function epochSeconds(ts) {
    const parts = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$/.exec(ts);
    if (!parts) return Date.parse(ts) / 1000;
    return Date.parse(parts[1] + (parts[3] ?? "Z")) / 1000 + Number(`0${parts[2] ?? ""}`);
  }

  // ---- the two files --------------------------------------------------------------------
  function openedAt(conn) {
    if (conn.started !== null && conn.started !== undefined) return conn.started;
    return conn.frames.length ? conn.frames[0].time : 0;
  }

  function harTime(seconds) {
    return new Date(Math.floor(seconds * 1000)).toISOString();
  }

  function harEntry(conn) {
    const started = openedAt(conn);
    const ended = Math.max(started, ...conn.frames.map((f) => f.time));
    const url = new URL(conn.url);
    return {
      startedDateTime: harTime(started),
      time: Math.round((ended - started) * 1e6) / 1e3,
      request: {
        method: "GET",
        url: conn.url,
        httpVersion: "HTTP/1.1",
        cookies: [],
        headers: [
          {name: "Host", value: url.host},
          {name: "Connection", value: "Upgrade"},
          {name: "Upgrade", value: "websocket"},
          {name: "Sec-WebSocket-Version", value: "13"},
        ],
        queryString: [...url.searchParams].map(([name, value]) => ({name, value})),
        headersSize: -1,
        bodySize: 0,
      },
      response: {
        status: 101,
        statusText: "Switching Protocols",
        httpVersion: "HTTP/1.1",
        cookies: [],
        headers: [
          {name: "Connection", value: "Upgrade"},
          {name: "Upgrade", value: "websocket"},
        ],
        content: {size: 0, mimeType: "x-unknown"},
        redirectURL: "",
        headersSize: -1,
        bodySize: 0,
      },
      cache: {},
      timings: {blocked: -1, dns: -1, connect: -1, send: 0, wait: 0, receive: 0},
      connection: conn.name,
      _resourceType: "websocket",
      _webSocketMessages: conn.frames.map((f) => {
        const message = {type: f.direction, time: f.time, opcode: f.opcode, data: f.data};
        if (f.truncated) message._truncated = true;
        return message;
      }),
    };
  }

  function toHar(session, version = "") {
    const connections = [...session.connections].sort((a, b) => openedAt(a) - openedAt(b));
    const log = {
      version: "1.2",
      creator: {name: CREATOR, version: version || "0"},
      pages: [],
      entries: connections.map(harEntry),
    };
    return `${JSON.stringify({log}, null, 1)}\n`;
  }

  // every connection's frames in the order of their times (a connection's own in its order)
  function toJsonl(session) {
    const merged = [];
    for (const conn of session.connections) {
      let latest = -Infinity;
      for (const f of conn.frames) {
        latest = Math.max(latest, f.time);  // never before the connection's earlier frame
        merged.push([latest, merged.length, conn, f]);
      }
    }
    merged.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return merged.map(([, , conn, f]) => {
      const record = {conn: conn.name, url: conn.url, direction: f.direction, time: f.time};
      const id = requestIdOf(f.data, f.opcode);
      if (id !== null) record.request_id = id;
      if (f.opcode === BINARY) record.opcode = BINARY;
      record.data = f.data;
      if (f.truncated) record.truncated = true;
      return `${JSON.stringify(record)}\n`;
    }).join("");
  }

  function frameCount(session) {
    return session.connections.reduce((n, conn) => n + conn.frames.length, 0);
  }

  // a name for a file saved now: qakit-PREFIX-20250102-030405.har
  function fileName(prefix, suffix, date = new Date()) {
    const pad = (n) => String(n).padStart(2, "0");
    const stamp = `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}-` +
      `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
    return `qakit-${prefix}-${stamp}.${suffix}`;
  }

  // the browser saves `text` as a file (nothing leaves the page)
  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], {type}));
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  // both files of a session, as the page's two buttons save them
  function save(session, prefix, format, version = "") {
    if (format === "har") {
      download(fileName(prefix, "har"), toHar(session, version), "application/json");
    } else {
      download(fileName(prefix, "jsonl"), toJsonl(session), "application/x-ndjson");
    }
  }

  return {TEXT, BINARY, MAX_FRAMES, Recorder, fromInspector, epochSeconds, requestIdOf,
          toHar, toJsonl, frameCount, fileName, download, save};
})();

if (typeof module !== "undefined") module.exports = Sessions;
