// qakit-trio pages: shared helpers. Plain JavaScript, no framework, nothing from elsewhere.
// Every text that came from the network is put into the page with textContent, never as HTML:
// trainees send strange frames on purpose, and the inspector shows everybody's.
//
// Languages. The pages speak Russian and English. Every text lives in the catalogues
// (i18n.ru.json, i18n.en.json; /assets/i18n.js carries both as the I18N object); a page only
// carries keys:
//   data-i18n="key"                   the element's text (data-i18n-args: JSON of its {names})
//   data-i18n-html="key"              its content with the catalogue's own markup (never data)
//   data-i18n-attr="title:key;..."    attributes
//   data-raw                          data or code shown as it is (frames, URLs, names)
// and makes dynamic text with Stand.el(tag, {i18n: key, args}) or Stand.tr(node, key, args),
// which keep the key on the element: a switch of language redraws every text in place.
// Which language: ?lang=ru|en in the URL, else the one chosen before (localStorage), else the
// stand's pick from the browser's Accept-Language (<meta name="qakit-lang">), else English.
"use strict";

const Stand = {
  LANGUAGES: ["ru", "en"],
  lang: "en",
  // one arrow per sender, on every page (the legend says which is which; stand.css colours)
  ARROWS: {client: "→", stand: "←", publish: "⇇", close: "×"},

  el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "i18n") Stand.tr(node, value, attrs.args);
      else if (key === "args") continue;  // with i18n
      else if (key === "i18nAttr") Stand.trAttr(node, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  },

  // the text of `key` in the page's language, {name} filled from args; with a number args.n,
  // the plural form key.one / .few / .many / .other that the language's rules pick
  t(key, args = {}) {
    const table = I18N[Stand.lang] || {};
    let text = table[key];
    if (text === undefined && typeof args.n === "number") {
      const form = new Intl.PluralRules(Stand.lang).select(args.n);
      text = table[`${key}.${form}`] ?? table[`${key}.other`];
    }
    if (text === undefined) {
      console.warn(`no text for ${key} in ${Stand.lang}`);
      return key;
    }
    return text.replace(/\{(\w+)\}/g, (all, name) => (name in args ? String(args[name]) : all));
  },

  has(key) { return (I18N[Stand.lang] || {})[key] !== undefined; },

  // the element's text from the catalogue, kept as a key (redrawn when the language changes)
  tr(node, key, args) {
    node.removeAttribute("data-raw");
    node.setAttribute("data-i18n", key);
    if (args) node.setAttribute("data-i18n-args", JSON.stringify(args));
    else node.removeAttribute("data-i18n-args");
    node.textContent = Stand.t(key, args);
    return node;
  },

  trAttr(node, attrs) {
    node.setAttribute("data-i18n-attr",
                      Object.entries(attrs).map(([name, key]) => `${name}:${key}`).join(";"));
    for (const [name, key] of Object.entries(attrs)) node.setAttribute(name, Stand.t(key));
    return node;
  },

  // data shown as it is (a URL, a server's message): no key, whatever the element had before
  raw(node, text) {
    node.setAttribute("data-raw", "");
    node.removeAttribute("data-i18n");
    node.removeAttribute("data-i18n-args");
    node.textContent = text;
    return node;
  },

  translate(root = document) {
    for (const node of root.querySelectorAll("[data-i18n]")) {
      const args = node.getAttribute("data-i18n-args");
      node.textContent = Stand.t(node.getAttribute("data-i18n"), args ? JSON.parse(args) : {});
    }
    for (const node of root.querySelectorAll("[data-i18n-html]")) {
      node.innerHTML = Stand.t(node.getAttribute("data-i18n-html"));  // the catalogue's markup
    }
    for (const node of root.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of node.getAttribute("data-i18n-attr").split(";")) {
        const [name, key] = pair.split(":");
        node.setAttribute(name, Stand.t(key));
      }
    }
  },

  pickLanguage() {
    const valid = (lang) => Stand.LANGUAGES.includes(lang);
    const asked = new URLSearchParams(location.search).get("lang");
    if (valid(asked)) {
      Stand.remember(asked);  // a link with ?lang= sets the language of the pages that follow
      return asked;
    }
    let kept = null;
    try { kept = localStorage.getItem("qakit.lang"); } catch { /* storage off: not kept */ }
    if (valid(kept)) return kept;
    const meta = document.querySelector('meta[name="qakit-lang"]');
    if (meta && valid(meta.content)) return meta.content;  // the stand read Accept-Language
    for (const tag of navigator.languages || []) {
      const lang = tag.slice(0, 2).toLowerCase();
      if (valid(lang)) return lang;
    }
    return "en";
  },

  remember(lang) {
    try { localStorage.setItem("qakit.lang", lang); } catch { /* storage off: not kept */ }
  },

  setLanguage(lang) {
    Stand.lang = lang;
    if (!document.documentElement.hasAttribute("data-content-lang")) {
      document.documentElement.lang = lang;  // a guide keeps its own (its text's) language
    }
    for (const node of document.querySelectorAll("[data-stand-lang]")) node.lang = lang;
    for (const button of document.querySelectorAll(".lang-switch button")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
    }
    Stand.translate();
    window.dispatchEvent(new CustomEvent("stand:language", {detail: lang}));
  },

  // the RU/EN switch: remembered, and written into a ?lang= the URL already has
  switchTo(lang) {
    Stand.remember(lang);
    const url = new URL(location.href);
    if (url.searchParams.has("lang")) {
      url.searchParams.set("lang", lang);
      history.replaceState(history.state, "", url);
    }
    Stand.setLanguage(lang);
  },

  // the legend of the frame logs: the same arrows and colours on every page
  legend(node) {
    for (const side of node.dataset.legend.split(" ")) {
      node.append(Stand.el("span", {class: "item"},
        Stand.el("span", {class: `dir ${side}`, text: Stand.ARROWS[side]}), " ",
        Stand.el("span", {i18n: `legend.${side}`})));
    }
  },

  // a short explanation of an error a page shows, by its code (the frame's `error`), if known
  explain(code) {
    return typeof code === "string" && Stand.has(`error.${code}`)
      ? Stand.el("div", {class: "explain", i18n: `error.${code}`}) : null;
  },

  async getJSON(path, {teacher = false} = {}) {
    for (;;) {
      const response = await Stand.fetch(path, {headers: {Accept: "application/json"}});
      if (teacher && (response.status === 401 || response.status === 403)) {
        await Stand.askTeacher(response.status);  // then try again with the teacher's token
        continue;
      }
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
      return response.json();
    }
  },

  // ---- identities (QAKIT_AUTH=on; /stand.json says `auth`) ------------------------------
  // The token a page signed in with is kept in this tab's sessionStorage (never localStorage:
  // it ends with the tab), with its user and expiry. Off, none of this runs: no token is
  // ever kept or sent, and every request is the one the pages made before.
  AUTH_KEY: "qakit.auth",
  config: {lab_pages: true, version: "", auth: false},  // /stand.json, once header() read it

  signedIn() {
    let kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(Stand.AUTH_KEY) || "null"); } catch { /**/ }
    if (!kept || typeof kept.token !== "string") return null;
    if (kept.expires_at && kept.expires_at * 1000 <= Date.now()) {  // expired: signed out
      Stand.signOut();
      return null;
    }
    return kept;
  },

  token() {
    const kept = Stand.config.auth ? Stand.signedIn() : null;
    return kept ? kept.token : null;
  },

  keep(answer) {  // a POST /auth/token answer
    const kept = {token: answer.token, name: answer.name, role: answer.role,
                  expires_at: Math.floor(Date.now() / 1000) + answer.expires_in};
    try { sessionStorage.setItem(Stand.AUTH_KEY, JSON.stringify(kept)); } catch { /**/ }
    window.dispatchEvent(new CustomEvent("stand:auth", {detail: kept}));
    return kept;
  },

  signOut() {
    try { sessionStorage.removeItem(Stand.AUTH_KEY); } catch { /**/ }
    window.dispatchEvent(new CustomEvent("stand:auth", {detail: null}));
  },

  // POST /auth/token: a trainee with the class code, or the teacher's own token (sent as the
  // bearer once, for a token of the stand's; the teacher token itself is not kept)
  async signIn({name, classCode, teacherToken}) {
    const init = {method: "POST", headers: {"Content-Type": "application/json"}};
    if (teacherToken) {
      init.headers.Authorization = `Bearer ${teacherToken}`;
      init.body = JSON.stringify({name: name || "teacher", role: "teacher"});
    } else {
      init.body = JSON.stringify({name, class_code: classCode});
    }
    const response = await fetch("/auth/token", init);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ")
        : body.detail;
      throw new Error(`${response.status}: ${detail || response.statusText}`);
    }
    return Stand.keep(body);
  },

  // fetch with the token as `Authorization: Bearer` (REST), when signed in
  fetch(path, init = {}) {
    const token = Stand.token();
    if (!token) return fetch(path, init);
    const headers = new Headers(init.headers || {});
    if (!headers.has("Authorization")) headers.set("Authorization", `Bearer ${token}`);
    return fetch(path, {...init, headers});
  },

  // a WebSocket URL with the token as ?token= (a browser cannot set a header on a WebSocket)
  withToken(wsUrl) {
    const token = Stand.token();
    if (!token) return wsUrl;
    return `${wsUrl}${wsUrl.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
  },

  // a teacher page whose call answered 401/403: ask for the teacher token, on the page
  // (one box, however many calls wait for it); resolves once signed in as the teacher
  askTeacher(status) {
    if (Stand.asking) return Stand.asking;
    const {el} = Stand;
    Stand.asking = new Promise((resolve) => {
      const input = el("input", {id: "teacher-token", type: "password", size: 28,
                                 autocomplete: "off"});
      const error = el("div", {class: "muted", id: "teacher-error", "aria-live": "polite"});
      const box = el("form", {class: "warn", id: "teacher-box"},
        el("div", {i18n: "auth.teacherNeeded", args: {status}}),
        el("div", {class: "row"},
          el("label", {for: "teacher-token", i18n: "auth.teacherToken"}), input,
          el("button", {type: "submit", class: "primary", id: "teacher-sign-in",
                        i18n: "auth.signInTeacher"})),
        error);
      box.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          await Stand.signIn({teacherToken: input.value.trim()});
        } catch (failed) {
          Stand.tr(error, "auth.failed", {error: String(failed.message || failed)});
          return;
        }
        box.remove();
        Stand.asking = null;
        resolve();
      });
      (document.querySelector("main") || document.body).prepend(box);
      input.focus();
    });
    return Stand.asking;
  },
  asking: null,

  // who is signed in, in the header (QAKIT_AUTH=on only)
  whoAmI(node) {
    const kept = Stand.signedIn();
    node.replaceChildren();
    if (!kept) {
      node.append(Stand.el("a", {href: "/", id: "auth-user", i18n: "auth.signedOut"}));
      return;
    }
    node.append(Stand.el("span", {id: "auth-user", i18n: kept.role === "teacher"
      ? "auth.signedInTeacher" : "auth.signedIn", args: {name: kept.name}}), " ",
    Stand.el("button", {type: "button", id: "sign-out", i18n: "auth.signOut",
                        onclick: () => Stand.signOut()}));
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

  // the header of every page: the pages (lab pages only when the stand has them on), RU/EN
  async header(current) {
    const links = [["/", "nav.portal"], ["/playground", "nav.playground"],
                   ["/me", "nav.me"], ["/classroom", "nav.classroom"],
                   ["/inspector", "nav.inspector"], ["/tasks", "nav.tasks"],
                   ["/docs", "nav.docs"], ["/asyncapi", "nav.asyncapi"],
                   ["/guides/guide/README.md", "nav.guides"]];
    let stand = Stand.config;
    try { stand = await Stand.getJSON("/stand.json"); } catch { /* the page still works */ }
    Stand.config = stand;
    const nav = Stand.el("nav", {i18nAttr: {"aria-label": "nav.label"}});
    for (const [href, key] of links) {
      const lab = href === "/inspector" || href === "/tasks" || href === "/classroom";
      if (!stand.lab_pages && lab) continue;
      nav.append(Stand.el("a", {href, "aria-current": href === current ? "page" : null,
                                i18n: key}), " ");
    }
    const switcher = Stand.el("span", {class: "lang-switch", role: "group", "data-raw": true,
                                       i18nAttr: {"aria-label": "lang.label"}});
    for (const lang of Stand.LANGUAGES) {
      switcher.append(Stand.el("button", {type: "button", "data-lang": lang, lang,
                                          "aria-pressed": String(lang === Stand.lang),
                                          title: I18N[lang]["lang.name"],
                                          text: lang.toUpperCase(),
                                          onclick: () => Stand.switchTo(lang)}));
    }
    const top = Stand.el("header", {class: "top", "data-stand-lang": true, lang: Stand.lang},
      Stand.el("b", {"data-raw": true, text: "QA Kit · qakit-trio"}), nav, switcher,
      Stand.el("span", {class: "version", "data-raw": true,
                        text: stand.version ? `v${stand.version}` : ""}));
    if (stand.cluster) {  // several instances: which one this page talks to
      const own = current === "/inspector" || current === "/tasks";
      top.append(Stand.el("span", {class: "instance", id: "instance", i18n:
                                   own ? "cluster.ownInstance" : "cluster.instance",
                                   args: {id: stand.instance}}));
    }
    if (stand.auth) {
      const who = Stand.el("span", {class: "who", id: "auth-who"});
      Stand.whoAmI(who);
      window.addEventListener("stand:auth", () => Stand.whoAmI(who));
      switcher.after(who);
    }
    document.body.prepend(top);
    return stand;
  },
};

// before any page script runs: the language, every static text, the legends
Stand.setLanguage(Stand.pickLanguage());
for (const node of document.querySelectorAll("[data-legend]")) Stand.legend(node);
