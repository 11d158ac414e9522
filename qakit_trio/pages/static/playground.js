// The playground: a WebSocket client and a REST client for trainees.
// Frames are logged with their direction, time, time since their request, size and
// request_id; with "group by request_id", the frames of one request sit in one box
// (ack → data → event), in the order they came. What it sends is recorded in this page only
// (report.js): ⚑ on a frame the stand sent reports it as a bug (POST /lab/findings). The
// whole session (every frame both ways, per connection, with its time) is recorded in the
// page too and saved as HAR or JSON lines (sessions.js), for `qakit-trio replay`.
"use strict";

(async () => {
  const {el} = Stand;
  const $ = (id) => document.getElementById(id);
  const stand = await Stand.header("/playground");
  // QAKIT_AUTH=on: the token goes with every socket (?token=) and REST call (Stand.fetch)
  function showAuth() {
    const signedIn = Stand.token() !== null;
    $("pg-signed-out").classList.toggle("hidden", !stand.auth || signedIn);
    $("pg-token").classList.toggle("hidden", !stand.auth || !signedIn);
  }
  window.addEventListener("stand:auth", showAuth);
  showAuth();

  let socket = null;
  let counter = 0;
  const requests = new Map();  // request_id -> {t0, box}
  let lastSent = null;  // when the last message went (for server-assigned request ids)
  const frames = [];  // everything logged, for Copy
  const recorder = new Sessions.Recorder();  // the session, for "Save HAR" / "Save JSONL"
  let recording = null;  // the open socket's connection in it
  // channel -> {offset, epoch} of the last frame seen that had them (a hello, a publication,
  // a `subscribed` or `history` data): what a `since` takes. Kept across connections, for a
  // reconnect is what it is for.
  const positions = new Map();

  // ---- the URL -------------------------------------------------------------------------
  function url() {
    const path = $("path").value;
    const channel = $("channel").value.trim();
    const query = path === "/ws" && channel ? `?channel=${encodeURIComponent(channel)}` : "";
    return `${Stand.wsBase()}${path}${query}`;
  }
  function showUrl() {
    $("url").value = url();
    $("channel").disabled = $("path").value !== "/ws";
    fillTemplates();
  }
  $("path").addEventListener("change", showUrl);
  $("channel").addEventListener("input", showUrl);

  // ---- templates -----------------------------------------------------------------------
  function fillTemplates() {
    const select = $("template");
    select.replaceChildren();
    (TEMPLATES[$("path").value] || []).forEach(([key], index) =>
      select.append(el("option", {value: index, i18n: key})));
  }
  function insertTemplate() {
    const template = (TEMPLATES[$("path").value] || [])[Number($("template").value)];
    if (!template) return;
    const value = withPosition(template[1]);
    let text = typeof value === "string" ? value : JSON.stringify(value);
    if (text.includes("{rid}")) text = text.replace("{rid}", `r${++counter}`);
    $("message").value = text;
    $("message").focus();
  }
  // a template's `payload.since`: the last position seen in its channel, if any
  function withPosition(value) {
    const since = value?.payload?.since;
    const seen = since && positions.get(value.payload.channel);
    if (!seen) return value;
    return {...value, payload: {...value.payload, since: {...seen}}};
  }
  $("insert").addEventListener("click", insertTemplate);
  $("template").addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); insertTemplate(); }
  });

  // ---- positions (offset and epoch per channel) -----------------------------------------
  function notePosition(text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    if (!frame || typeof frame !== "object") return;
    const at = frame.data && typeof frame.data === "object" && !Array.isArray(frame.data)
      ? frame.data : frame;  // `subscribed`, `history`: in its data; the others: the frame's
    if (typeof at.channel !== "string" || typeof at.epoch !== "string" ||
        !Number.isInteger(at.offset)) return;
    positions.delete(at.channel);  // the latest last
    positions.set(at.channel, {offset: at.offset, epoch: at.epoch});
    $("positions-row").classList.remove("hidden");
    $("positions").replaceChildren(...[...positions].map(([channel, seen]) =>
      el("div", {"data-channel": channel,
                 text: `${channel}: ${JSON.stringify({since: seen}).slice(1, -1)}`})));
  }

  // ---- connect / disconnect ------------------------------------------------------------
  // info: a URL (as it is), or [key, args] of the catalogue
  function setState(state, info = "") {
    Stand.tr($("ws-state"), `state.${state}`);
    $("ws-state").className = `state ${state}`;
    if (typeof info === "string") Stand.raw($("close-info"), info);
    else Stand.tr($("close-info"), ...info);
    Stand.tr($("connect"), state === "closed" ? "pg.connect" : "pg.disconnect");
    $("send").disabled = state !== "open";
  }
  function connect() {
    if (socket) {
      const code = Number($("close-code").value) || 1000;
      try {
        Report.closing();  // not a reply of the stand's: a finding cannot point at it
        socket.close(code, $("close-reason").value);
      } catch (error) {  // a code the browser may not send (1001-2999 but 1000)
        Stand.raw($("close-info"), String(error.message || error));
      }
      return;
    }
    const target = url();
    setState("connecting", target);
    const ws = new WebSocket(Stand.withToken(target));  // shown without the token
    ws.binaryType = "arraybuffer";  // a binary frame's bytes, for the recording
    socket = ws;
    Report.opened(target);  // a new connection of the recording (report.js)
    const conn = recording = recorder.open(target);
    showRecorded();
    ws.addEventListener("open", () => setState("open", target));
    ws.addEventListener("message", (event) => {
      record(conn, "receive", event.data);
      const row = typeof event.data === "string" ? log("in", event.data)
        : log("in", `<binary frame, ${event.data.byteLength} bytes>`);  // data
      if (typeof event.data === "string") notePosition(event.data);
      Report.received(row);
    });
    ws.addEventListener("close", (event) => {
      socket = null;
      recorder.close(conn);
      if (recording === conn) recording = null;
      const key = `pg.closed${event.reason ? "Reason" : ""}${event.wasClean ? "" : "Unclean"}`;
      setState("closed", [key, {code: event.code, reason: event.reason}]);
      Report.closed(log("close", JSON.stringify({close_code: event.code, reason: event.reason,
                                                 clean: event.wasClean})));
    });
  }
  $("connect").addEventListener("click", connect);

  // ---- send ----------------------------------------------------------------------------
  function send() {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    let text = $("message").value;
    // "new request_id each time": a message whose rN id was already used gets the next one
    const used = /"request_id"\s*:\s*"(r\d+)"/.exec(text);
    if ($("auto-id").checked && used && requests.has(used[1])) {
      text = text.replace(used[0], `"request_id":"r${++counter}"`);
      $("message").value = text;
    }
    socket.send(text);
    record(recording, "send", text);
    Report.sent(text);  // recorded in this page only
    lastSent = performance.now();
    log("out", text);
  }
  $("send").addEventListener("click", send);

  // ---- the session's recording (sessions.js) --------------------------------------------
  function record(conn, direction, data) {
    recorder.record(conn, direction, data);
    showRecorded();
  }
  function showRecorded() {
    if (recorder.full) Stand.tr($("recorded"), "pg.recordFull", {max: recorder.limit});
    else Stand.tr($("recorded"), "pg.recorded", {n: recorder.count});
    const empty = !recorder.connections.length;
    $("save-har").disabled = empty;
    $("save-jsonl").disabled = empty;
  }
  for (const format of ["har", "jsonl"]) {
    $(`save-${format}`).addEventListener("click", () =>
      Sessions.save(recorder.session(), "playground", format, stand.version));
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey && event.key === "Enter") { event.preventDefault(); send(); }
    if (event.altKey && (event.key === "c" || event.key === "C")) {
      event.preventDefault(); connect();
    }
    if (event.altKey && (event.key === "t" || event.key === "T")) {
      event.preventDefault(); $("template").focus();
    }
  });

  // ---- the frame log -------------------------------------------------------------------
  function requestId(text) {
    try {
      const value = JSON.parse(text);
      if (value && typeof value === "object" && !Array.isArray(value) &&
          value.request_id !== undefined && value.request_id !== null) {
        return {id: String(value.request_id), type: value.type ?? value.action ?? ""};
      }
      return {id: null, type: value && typeof value === "object" ? (value.type ?? value.action ?? "") : ""};
    } catch {
      return {id: null, type: ""};
    }
  }

  function log(direction, text) {
    const now = performance.now();
    const {id, type} = requestId(text);
    let since = "";
    let request = id === null ? null : requests.get(id);
    if (id !== null && !request) {
      // first frame of this request: ours (out), or the ack of a request without an id
      const t0 = direction === "out" ? now : (lastSent ?? now);
      request = {t0, box: null};
      requests.set(id, request);
    }
    if (request && direction !== "out") since = Math.round(now - request.t0);
    const side = {in: "stand", out: "client", close: "close"}[direction];  // who sent it
    const row = el("div", {class: "frame", tabindex: "0", "data-dir": direction,
                           "data-side": side, "data-request-id": id ?? "", "data-type": type,
                           i18nAttr: {title: "pg.clickPretty"}},
      el("span", {class: `dir ${side}`, text: Stand.ARROWS[side],
                  i18nAttr: {"aria-label": `legend.${side}`}}),
      el("span", {text: Stand.clock()}),
      el("span", {class: "since", i18n: since === "" ? null : "pg.since", args: {ms: since}}),
      el("span", {i18n: "common.bytes", args: {n: Stand.bytes(text)}}),
      el("span", {}, id === null ? "" : el("span", {class: "chip", text: id,
                                                     style: `background:${Stand.color(id)}`})),
      el("span", {class: "type", text: String(type)}),
      el("span", {class: "text", text}),
      direction === "in" ? explanation(text) : null);
    row.style.borderLeftColor = id === null ? "transparent" : Stand.color(id);
    const toggle = () => {
      const open = row.querySelector("pre");
      if (open) open.remove(); else row.append(el("pre", {text: Stand.pretty(text)}));
    };
    row.addEventListener("click", toggle);
    row.addEventListener("keydown", (event) => { if (event.key === "Enter") toggle(); });
    frames.push({dir: direction, time: new Date().toISOString(), request_id: id, text});
    place(row, request, id);
    applyFilter(row);
    $("log").scrollTop = $("log").scrollHeight;
    return row;
  }

  // an error frame's code (/ws and /ws/orders: its `error`) explained in the page's language
  function explanation(text) {
    try {
      const frame = JSON.parse(text);
      return frame && frame.type === "error" ? Stand.explain(frame.error) : null;
    } catch {
      return null;
    }
  }

  function place(row, request, id) {
    if (!$("grouped").checked || !request) {
      $("log").append(row);
      return;
    }
    if (!request.box || !request.box.isConnected) {
      request.box = el("div", {class: "group", "data-request-id": id,
                               style: `border-left-color:${Stand.color(id)}`},
        el("div", {class: "ghead", i18n: "pg.group", args: {id}}));
      $("log").append(request.box);
    }
    request.box.append(row);
  }

  function applyFilter(row) {
    const needle = $("filter").value.trim().toLowerCase();
    row.classList.toggle("hidden", needle !== "" && !row.textContent.toLowerCase().includes(needle));
  }
  $("filter").addEventListener("input", () => {
    for (const row of document.querySelectorAll("#log .frame")) applyFilter(row);
  });
  $("clear").addEventListener("click", () => {
    $("log").replaceChildren();
    requests.clear();
    frames.length = 0;
    Report.clear();  // and the recording: a finding starts from here
    recorder.clear();  // and the session's (a connection still open goes on)
    showRecorded();
  });
  $("copy").addEventListener("click", async () => {
    const done = await Stand.copy(frames.map((f) => JSON.stringify(f)).join("\n"));
    if (done) Stand.tr($("copied"), "pg.copied", {n: frames.length});
    else Stand.tr($("copied"), "pg.copyFailed");
  });

  // ---- REST ----------------------------------------------------------------------------
  for (const [name] of REST_TEMPLATES) $("rest-template").append(el("option", {text: name}));
  $("rest-template").prepend(el("option", {i18n: "pg.restTemplates", selected: true,
                                           disabled: true}));
  $("rest-template").addEventListener("change", () => {
    const [, method, path, body] = REST_TEMPLATES.find(([n]) => n === $("rest-template").value);
    $("method").value = method;
    $("rest-path").value = path;
    $("rest-body").value = body;
  });
  $("rest-send").addEventListener("click", async () => {
    const method = $("method").value;
    const body = $("rest-body").value;
    const init = {method, headers: {}};
    if (body && method !== "GET") {
      init.body = body;
      init.headers["Content-Type"] = "application/json";
    }
    const started = performance.now();
    const step = Report.rest(method, $("rest-path").value, body);  // null: not replayable
    try {
      const response = await Stand.fetch($("rest-path").value, init);
      const text = await response.text();
      Report.restAnswer(step, response.status, text);
      Stand.raw($("rest-status"), `${response.status} ${response.statusText}`.trim());
      Stand.tr($("rest-time"), "pg.ms", {ms: Math.round(performance.now() - started)});
      explainRest(response.status, text);
      $("rest-headers").textContent =
        [...response.headers.entries()].map(([k, v]) => `${k}: ${v}`).join("\n");
      $("rest-result").textContent = Stand.pretty(text);
    } catch (error) {
      Stand.tr($("rest-status"), "pg.noResponse");
      Report.restAnswer(null);
      $("rest-result").textContent = String(error);
      $("rest-explain").replaceChildren();
    }
  });

  // a REST error explained: by the body's `error` code if it has one, else by the status
  function explainRest(status, text) {
    let code = null;
    try { code = JSON.parse(text).error; } catch { /* not JSON: the status alone */ }
    const found = Stand.explain(code) ?? (status >= 400 && Stand.has(`http.${status}`)
      ? el("div", {class: "explain", i18n: `http.${status}`}) : null);
    $("rest-explain").replaceChildren(...(found ? [found] : []));
  }

  $("rep-submit").addEventListener("click", () => Report.submit());
  showUrl();
  setState("closed");
  showRecorded();
})();
