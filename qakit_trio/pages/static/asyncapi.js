// The AsyncAPI document as a page: channels, what the client sends (with examples), what the
// server sends (with schemas), and which frames answer which request.
"use strict";

(async () => {
  const {el} = Stand;
  await Stand.header("/asyncapi");
  const doc = await Stand.getJSON("/asyncapi.json");
  document.getElementById("title").textContent = `${doc.info.title} · AsyncAPI ${doc.asyncapi}`;
  document.getElementById("info").append(
    el("pre", {text: doc.info.description}),
    el("p", {}, "Servers: ", ...Object.values(doc.servers).map((s) =>
      el("code", {text: `${s.protocol}://${s.host} `}))));
  const byName = (channel, ref) => doc.channels[channel].messages[ref.$ref.split("/").pop()];
  for (const [key, channel] of Object.entries(doc.channels)) {
    const section = el("section", {class: "panel", id: `channel-${key}`},
      el("h2", {}, el("code", {text: channel.address}), ` (${key})`),
      el("p", {text: channel.description}));
    const query = channel.bindings?.ws?.query?.properties;
    if (query) {
      for (const [name, schema] of Object.entries(query)) {
        section.append(el("p", {}, "Query parameter ", el("code", {text: name}),
                          `: ${schema.description}`));
      }
    }
    const ops = Object.entries(doc.operations).filter(([, op]) =>
      op.channel.$ref === `#/channels/${key}`);
    section.append(el("h3", {text: "The client sends"}));
    for (const [id, op] of ops.filter(([, op]) => op.action === "receive")) {
      const message = byName(key, op.messages[0]);
      const block = el("div", {class: "message", "data-operation": id},
        el("h4", {}, el("code", {text: message.title}), ` — ${message.summary}`));
      for (const example of message.examples || []) {
        block.append(el("pre", {class: "example", text: JSON.stringify(example.payload)}));
      }
      if (op.reply) {
        block.append(el("p", {class: "muted", text: "answered with: " +
          op.reply.messages.map((ref) => byName(key, ref).title).join(", ")}));
      }
      block.append(el("details", {}, el("summary", {text: "schema"}),
                      el("pre", {text: JSON.stringify(message.payload, null, 2)})));
      section.append(block);
    }
    section.append(el("h3", {text: "The server sends"}));
    const sent = new Set();
    for (const [, op] of ops.filter(([, op]) => op.action === "send")) {
      for (const ref of op.messages) {
        const message = byName(key, ref);
        if (sent.has(message.name)) continue;
        sent.add(message.name);
        section.append(el("details", {class: "frame-schema", "data-message": message.name},
          el("summary", {}, el("code", {text: message.title}), ` — ${message.summary}`),
          el("pre", {text: JSON.stringify(message.payload, null, 2)})));
      }
    }
    document.getElementById("channels").append(section);
  }
})();
