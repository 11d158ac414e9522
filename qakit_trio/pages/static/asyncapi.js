// The AsyncAPI document as a page: channels, what the client sends (with examples), what the
// server sends (with schemas), and which frames answer which request. The document describes
// both profiles (QAKIT_PROFILE); the page shows the frames of the profile this stand runs,
// and the other profile's (the QaKit* messages: qa_kit) only when asked.
"use strict";

(async () => {
  const {el} = Stand;
  const stand = await Stand.header("/asyncapi");
  const doc = await Stand.getJSON("/asyncapi.json");
  const profile = stand.profile === "qa_kit" ? "qa_kit" : "qakit";
  const other = profile === "qa_kit" ? "qakit" : "qa_kit";
  const profileOf = (message) => (message.name.startsWith("QaKit") ? "qa_kit" : "qakit");
  document.getElementById("doc-title").textContent =
    `${doc.info.title} · AsyncAPI ${doc.asyncapi}`;
  Stand.tr(document.getElementById("other-profile-label"), "api.showOther",
           {profile, other});
  document.getElementById("info").append(
    el("pre", {text: doc.info.description}),
    el("p", {}, el("span", {i18n: "api.servers"}), " ", ...Object.values(doc.servers).map((s) =>
      el("code", {text: `${s.protocol}://${s.host} `}))));
  const byName = (channel, ref) => doc.channels[channel].messages[ref.$ref.split("/").pop()];
  // a message's title, marked with its profile (hidden while it is the other one's)
  const title = (message) => el("code", {"data-profile": profileOf(message),
                                         text: message.title});
  for (const [key, channel] of Object.entries(doc.channels)) {
    const section = el("section", {class: "panel", id: `channel-${key}`},
      el("h2", {}, el("code", {text: channel.address}), ` (${key})`),
      el("p", {text: channel.description}));
    const query = channel.bindings?.ws?.query?.properties;
    if (query) {
      for (const [name, schema] of Object.entries(query)) {
        section.append(el("p", {}, el("span", {i18n: "api.query", args: {name}}),
                          ` ${schema.description}`));
      }
    }
    const ops = Object.entries(doc.operations).filter(([, op]) =>
      op.channel.$ref === `#/channels/${key}`);
    section.append(el("h3", {i18n: "api.clientSends"}));
    for (const [id, op] of ops.filter(([, op]) => op.action === "receive")) {
      const message = byName(key, op.messages[0]);
      const block = el("div", {class: "message", "data-operation": id},
        el("h4", {}, el("code", {text: message.title}), ` — ${message.summary}`));
      for (const example of message.examples || []) {
        block.append(el("pre", {class: "example", text: JSON.stringify(example.payload)}));
      }
      if (op.reply) {
        const answers = el("p", {class: "muted answers"},
                           el("span", {i18n: "api.answeredWith"}));
        for (const ref of op.reply.messages) answers.append(" ", title(byName(key, ref)));
        block.append(answers);
      }
      block.append(el("details", {}, el("summary", {i18n: "api.schema"}),
                      el("pre", {text: JSON.stringify(message.payload, null, 2)})));
      section.append(block);
    }
    section.append(el("h3", {i18n: "api.serverSends"}));
    const sent = new Set();
    for (const [, op] of ops.filter(([, op]) => op.action === "send")) {
      for (const ref of op.messages) {
        const message = byName(key, ref);
        if (sent.has(message.name)) continue;
        sent.add(message.name);
        section.append(el("details", {class: "frame-schema", "data-message": message.name,
                                      "data-profile": profileOf(message)},
          el("summary", {}, el("code", {text: message.title}), ` — ${message.summary}`),
          el("pre", {text: JSON.stringify(message.payload, null, 2)})));
      }
    }
    document.getElementById("channels").append(section);
  }

  const toggle = document.getElementById("other-profile");
  function showProfiles() {
    for (const node of document.querySelectorAll("[data-profile]")) {
      node.classList.toggle("hidden", node.dataset.profile !== profile && !toggle.checked);
    }
  }
  toggle.addEventListener("change", showProfiles);
  showProfiles();
})();
