// qakit-trio pages: shared helpers. Plain JavaScript, no framework, nothing from elsewhere.
// Every text that came from the network is put into the page with textContent, never as HTML:
// trainees send strange frames on purpose, and the inspector shows everybody's.
"use strict";

const Stand = {
  el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  },

  async getJSON(path) {
    const response = await fetch(path, {headers: {Accept: "application/json"}});
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  },

  // ws://host:port for the page's own origin (or for an http URL given)
  wsBase(httpUrl = location.origin) {
    return httpUrl.replace(/^http/, "ws");
  },

  clock(date = new Date()) {
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.` +
      pad(date.getMilliseconds(), 3);
  },

  // one colour per request id, the same every time (frames of one request look alike)
  color(id) {
    let hash = 0;
    for (const ch of String(id)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return `hsl(${Math.round((hash * 137.508) % 360)} 62% 36%)`;  // neighbours far apart
  },

  pretty(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
  },

  bytes(text) { return new TextEncoder().encode(text).length; },

  async copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      const area = Stand.el("textarea", {style: "position:fixed;left:-9999px"});
      area.value = text;
      document.body.append(area);
      area.select();
      const done = document.execCommand("copy");
      area.remove();
      return done;
    }
  },

  // the header of every page; lab pages only when the stand has them on
  async header(current) {
    const links = [["/", "Portal"], ["/playground", "Playground"], ["/inspector", "Inspector"],
                   ["/tasks", "Task tree"], ["/docs", "REST docs"], ["/asyncapi", "WS protocols"],
                   ["/guides/guide/README.md", "Guides"]];
    let stand = {lab_pages: true, version: ""};
    try { stand = await Stand.getJSON("/stand.json"); } catch { /* the page still works */ }
    const nav = Stand.el("nav", {"aria-label": "Pages of the stand"});
    for (const [href, title] of links) {
      if (!stand.lab_pages && (href === "/inspector" || href === "/tasks")) continue;
      nav.append(Stand.el("a", {href, "aria-current": href === current ? "page" : null,
                                text: title}), " ");
    }
    const top = Stand.el("header", {class: "top"},
      Stand.el("b", {text: "QA Kit · qakit-trio"}), nav,
      Stand.el("span", {class: "muted", text: stand.version ? `v${stand.version}` : ""}));
    document.body.prepend(top);
    return stand;
  },
};
