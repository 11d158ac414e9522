// The inspector: /ws/_inspect streams the connection table every second and the frames its
// tap catches (the tap drops, and counts, what this page cannot keep up with: the stand
// never waits for it). Click a connection to watch it; click an event_id to see its log line
// and Kafka record. "Save HAR" / "Save JSONL" save the frames the page keeps (what it was sent
// while it watched, the rows it shows), each connection's as one (sessions.js): in the page
// alone, the stand keeps nothing for it.
"use strict";

(async () => {
  const {el} = Stand;
  const $ = (id) => document.getElementById(id);
  const stand = await Stand.header("/inspector");
  const MAX_ROWS = 2000;  // frames kept on the page
  let socket = null;
  let watched = {};  // the watch in force (its "watching" message)
  const kept = [];  // {row, watch} of each frame shown, for the files
  const known = new Map();  // connection id -> {hub, channel, channels, all} of its table row

  function watch(what) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({watch: what}));
  }

  function connect() {
    const ws = new WebSocket(Stand.withToken(`${Stand.wsBase()}/ws/_inspect`));
    socket = ws;
    ws.addEventListener("open", () => {
      Stand.tr($("inspect-state"), "state.live");
      $("inspect-state").className = "state open";
    });
    ws.addEventListener("close", (event) => {
      Stand.tr($("inspect-state"), "insp.closed", {code: event.code});
      $("inspect-state").className = "state closed";
      if (event.code === 4401 || event.code === 4403) {  // QAKIT_AUTH=on: the teacher's only
        Stand.askTeacher(event.code).then(connect);
        return;
      }
      setTimeout(connect, 2000);  // the stand restarted, or is stopping: try again
    });
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "connections") table(message);
      else if (message.type === "frames") traffic(message);
      else if (message.type === "watching") watching(message.watch);
      else if (message.type === "error") Stand.raw($("watching"), message.detail);
      if (message.dropped !== undefined) $("dropped").textContent = message.dropped;
    });
  }

  function watching(what) {
    watched = what;
    if (what.conn) Stand.tr($("watching"), "insp.watchingConn", {conn: what.conn});
    else if (what.channel) {
      Stand.tr($("watching"), "insp.watchingChannel", {hub: what.hub, channel: what.channel});
    } else Stand.tr($("watching"), "insp.watchingAll");
  }

  function table(message) {
    for (const c of message.connections) {
      known.delete(c.id);  // the latest last: the oldest go first
      const channels = (c.channels ?? []).map((s) => s.channel);
      known.set(c.id, {hub: c.hub, channel: c.channel, channels,
                       all: (c.subscriptions ?? 0) <= channels.length});
    }
    for (const id of known.keys()) {
      if (known.size <= 10 * MAX_ROWS) break;
      known.delete(id);
    }
    if (message.total > message.connections.length) {
      Stand.tr($("conn-total"), "insp.some", {shown: message.connections.length,
                                              total: message.total});
    } else Stand.raw($("conn-total"), `(${message.total})`);
    const body = document.querySelector("#connections tbody");
    body.replaceChildren(...message.connections.map((c) => el("tr", {"data-conn": c.id},
      el("td", {class: "mono", text: c.id}), el("td", {text: c.hub}),
      el("td", {text: c.channel}), el("td", {class: "subs"}, ...subscriptions(c)),
      el("td", {text: c.protocol}),
      el("td", {i18n: "insp.seconds", args: {s: c.connected_s}}), el("td", {text: c.frames_in}),
      el("td", {text: c.frames_out}),
      el("td", {i18n: "insp.queued", args: {frames: c.queued_frames, n: c.queued_bytes}}),
      el("td", {i18n: "insp.ago", args: {s: c.last_heard_s}}),
      el("td", {}, el("button", {i18n: "insp.watch", onclick: () => watch({conn: c.id})})))));
  }

  // the channels a connection is subscribed to (the row lists the first few; `subscriptions`
  // says how many), each marked if it gets their join/leave frames
  function subscriptions(c) {
    const listed = c.channels ?? [];
    const nodes = listed.flatMap((s, index) => [
      index ? ", " : null,
      el("span", {class: "mono", "data-channel": s.channel, text: s.channel}),
      s.join_leave ? " " : null,
      s.join_leave ? el("span", {class: "muted", i18n: "insp.joinLeave"}) : null,
    ]).filter((node) => node !== null);
    const more = (c.subscriptions ?? listed.length) - listed.length;
    if (more > 0) {
      nodes.push(" ", el("span", {class: "muted", i18n: "insp.moreChannels", args: {n: more}}));
    }
    if (!nodes.length) nodes.push(el("span", {class: "muted", i18n: "insp.noChannels"}));
    return nodes;
  }

  function traffic(message) {
    if ($("paused").checked) return;
    const log = $("log");
    for (const frame of message.frames) {
      log.append(row(frame));
      kept.push({row: frame, watch: watched});
    }
    while (log.childElementCount > MAX_ROWS) log.firstElementChild.remove();
    if (kept.length > MAX_ROWS) kept.splice(0, kept.length - MAX_ROWS);
    log.scrollTop = log.scrollHeight;
  }

  function row(frame) {
    const side = {in: "client", out: "stand", publish: "publish"}[frame.dir];  // who sent it
    const who = frame.dir === "publish"
      ? el("span", {class: "mono", i18n: "insp.published",
                    args: {hub: frame.hub, channel: frame.channel, n: frame.delivered}})
      : el("span", {class: "mono", text: frame.conn, title: frame.conn});
    const id = frame.request_id === null ? null : String(frame.request_id);
    const tail = el("span", {text: frame.type ?? frame.action ?? ""});
    if (frame.event_id) {
      tail.append(" ", el("a", {href: "#event-panel", class: "event-link",
                                "data-event-id": frame.event_id, text: frame.event_id,
                                onclick: () => showEvent(frame.event_id)}));
    }
    const node = el("div", {class: "frame", tabindex: "0", "data-dir": frame.dir,
                            "data-request-id": id ?? "", "data-event-id": frame.event_id ?? "",
                            "data-conn": frame.conn ?? "", "data-side": side},
      el("span", {class: `dir ${side}`, text: Stand.ARROWS[side],
                  i18nAttr: {"aria-label": `legend.${side}`}}),
      el("span", {text: frame.ts.slice(11, 23)}),
      who,
      el("span", {i18n: "common.bytes", args: {n: frame.size}}),
      el("span", {}, id === null ? "" : el("span", {class: "chip", text: id,
                                                     style: `background:${Stand.color(id)}`})),
      tail,
      el("span", {class: "text", text: frame.text}),
      frame.type === "error" ? Stand.explain(errorCode(frame.text)) : null);
    if (id !== null) node.style.borderLeftColor = Stand.color(id);
    node.addEventListener("click", (event) => {
      if (event.target.classList.contains("event-link")) return;
      const open = node.querySelector("pre");
      if (open) open.remove(); else node.append(el("pre", {text: Stand.pretty(frame.text)}));
    });
    applyFilter(node);
    return node;
  }

  function errorCode(text) {  // an error frame's `error` (/ws, /ws/orders), for its explanation
    try { return JSON.parse(text).error; } catch { return null; }
  }

  async function showEvent(eventId) {
    const trail = await Stand.getJSON(`/debug/events/${encodeURIComponent(eventId)}`,
                                      {teacher: true});
    $("event-panel").classList.remove("hidden");
    $("event-id").textContent = eventId;
    if (trail.log_lines.length) Stand.raw($("event-log"), trail.log_lines.join("\n"));
    else Stand.tr($("event-log"), "insp.noLogLine");
    const kafka = trail.kafka;
    if (kafka.state === "disabled") Stand.tr($("event-kafka"), "insp.kafkaOff");
    else if (!kafka.records.length) {
      Stand.tr($("event-kafka"), "insp.noRecord", {state: kafka.state});
    } else {
      Stand.raw($("event-kafka"), kafka.records.map((r) =>
        `${r.topic} partition ${r.partition} offset ${r.offset} key ${r.key}\n` +
        Stand.pretty(r.value)).join("\n\n"));
    }
  }

  function applyFilter(node) {
    const needle = $("filter").value.trim().toLowerCase();
    node.classList.toggle("hidden", needle !== "" && !node.textContent.toLowerCase().includes(needle));
  }
  $("filter").addEventListener("input", () => {
    for (const node of document.querySelectorAll("#log .frame")) applyFilter(node);
  });
  $("clear").addEventListener("click", () => {
    $("log").replaceChildren();
    kept.length = 0;
  });
  for (const format of ["har", "jsonl"]) {
    $(`save-${format}`).addEventListener("click", () => {
      const session = Sessions.fromInspector(kept, Stand.wsBase(), known);
      const prefix = watched.conn ? `inspector-${watched.conn}` : "inspector";
      Sessions.save(session, prefix, format, stand.version);
    });
  }
  $("watch-all").addEventListener("click", () => watch({}));
  $("watch-channel-btn").addEventListener("click", () =>
    watch({hub: $("watch-path").value, channel: $("watch-channel").value.trim()}));
  connect();
})();
