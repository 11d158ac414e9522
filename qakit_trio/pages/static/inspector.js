// The inspector: /ws/_inspect streams the connection table every second and the frames its
// tap catches (the tap drops, and counts, what this page cannot keep up with: the stand
// never waits for it). Click a connection to watch it; click an event_id to see its log line
// and Kafka record.
"use strict";

(async () => {
  const {el} = Stand;
  const $ = (id) => document.getElementById(id);
  await Stand.header("/inspector");
  const MAX_ROWS = 2000;  // frames kept on the page
  let socket = null;

  function watch(what) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({watch: what}));
  }

  function connect() {
    const ws = new WebSocket(`${Stand.wsBase()}/ws/_inspect`);
    socket = ws;
    ws.addEventListener("open", () => {
      $("inspect-state").textContent = "live";
      $("inspect-state").className = "state open";
    });
    ws.addEventListener("close", (event) => {
      $("inspect-state").textContent = `closed (${event.code})`;
      $("inspect-state").className = "state closed";
      setTimeout(connect, 2000);  // the stand restarted, or is stopping: try again
    });
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "connections") table(message);
      else if (message.type === "frames") traffic(message);
      else if (message.type === "watching") watching(message.watch);
      else if (message.type === "error") $("watching").textContent = message.detail;
      if (message.dropped !== undefined) $("dropped").textContent = message.dropped;
    });
  }

  function watching(what) {
    const text = what.conn ? `watching connection ${what.conn}`
      : what.channel ? `watching ${what.hub} channel ${what.channel}` : "watching everything";
    $("watching").textContent = text;
  }

  function table(message) {
    $("conn-total").textContent = message.total > message.connections.length
      ? `(${message.connections.length} of ${message.total})` : `(${message.total})`;
    const body = document.querySelector("#connections tbody");
    body.replaceChildren(...message.connections.map((c) => el("tr", {"data-conn": c.id},
      el("td", {class: "mono", text: c.id}), el("td", {text: c.hub}),
      el("td", {text: c.channel}), el("td", {text: c.protocol}),
      el("td", {text: `${c.connected_s} s`}), el("td", {text: c.frames_in}),
      el("td", {text: c.frames_out}),
      el("td", {text: `${c.queued_frames} / ${c.queued_bytes} B`}),
      el("td", {text: `${c.last_heard_s} s ago`}),
      el("td", {}, el("button", {text: "watch", onclick: () => watch({conn: c.id})})))));
  }

  function traffic(message) {
    if ($("paused").checked) return;
    const log = $("log");
    for (const frame of message.frames) log.append(row(frame));
    while (log.childElementCount > MAX_ROWS) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  function row(frame) {
    const arrow = {in: "↓", out: "↑", publish: "⇉"}[frame.dir];
    const who = frame.dir === "publish"
      ? `${frame.hub} #${frame.channel} → ${frame.delivered} other(s)` : frame.conn;
    const id = frame.request_id === null ? null : String(frame.request_id);
    const tail = el("span", {text: frame.type ?? frame.action ?? ""});
    if (frame.event_id) {
      tail.append(" ", el("a", {href: "#event-panel", class: "event-link",
                                "data-event-id": frame.event_id, text: frame.event_id,
                                onclick: () => showEvent(frame.event_id)}));
    }
    const node = el("div", {class: "frame", tabindex: "0", "data-dir": frame.dir,
                            "data-request-id": id ?? "", "data-event-id": frame.event_id ?? "",
                            "data-conn": frame.conn ?? ""},
      el("span", {class: `dir ${frame.dir}`, text: arrow}),
      el("span", {text: frame.ts.slice(11, 23)}),
      el("span", {class: "mono", text: who, title: who}),
      el("span", {text: `${frame.size} B`}),
      el("span", {}, id === null ? "" : el("span", {class: "chip", text: id,
                                                     style: `background:${Stand.color(id)}`})),
      tail,
      el("span", {class: "text", text: frame.text}));
    if (id !== null) node.style.borderLeftColor = Stand.color(id);
    node.addEventListener("click", (event) => {
      if (event.target.classList.contains("event-link")) return;
      const open = node.querySelector("pre");
      if (open) open.remove(); else node.append(el("pre", {text: Stand.pretty(frame.text)}));
    });
    applyFilter(node);
    return node;
  }

  async function showEvent(eventId) {
    const trail = await Stand.getJSON(`/debug/events/${encodeURIComponent(eventId)}`);
    $("event-panel").classList.remove("hidden");
    $("event-id").textContent = eventId;
    $("event-log").textContent = trail.log_lines.length ? trail.log_lines.join("\n")
      : "No log line carries this event_id (is a lab bug on?)";
    const kafka = trail.kafka;
    $("event-kafka").textContent = kafka.state === "disabled"
      ? "Kafka is off on this stand (KAFKA_BOOTSTRAP_SERVERS is not set)."
      : kafka.records.length
        ? kafka.records.map((r) => `${r.topic} partition ${r.partition} offset ${r.offset} ` +
                                   `key ${r.key}\n${Stand.pretty(r.value)}`).join("\n\n")
        : `No acknowledged Kafka record carries this event_id yet (Kafka: ${kafka.state}).`;
  }

  function applyFilter(node) {
    const needle = $("filter").value.trim().toLowerCase();
    node.classList.toggle("hidden", needle !== "" && !node.textContent.toLowerCase().includes(needle));
  }
  $("filter").addEventListener("input", () => {
    for (const node of document.querySelectorAll("#log .frame")) applyFilter(node);
  });
  $("clear").addEventListener("click", () => $("log").replaceChildren());
  $("watch-all").addEventListener("click", () => watch({}));
  $("watch-channel-btn").addEventListener("click", () =>
    watch({hub: $("watch-path").value, channel: $("watch-channel").value.trim()}));
  connect();
})();
