// "Report a bug" (the playground) and a finding's verdict (the playground and /me).
// The playground records here what it sends, in this page only (the stand records nothing of
// it): each WebSocket frame as a step {conn, path, text} (the connection's name and its path,
// `token` left out) and each REST call the replay can make as {http, path, json}; between two
// steps, the time that passed (wait_ms, at most MAX_WAIT_MS). A frame the stand sends is the
// Nth reply to its connection's latest step, as the replay counts (classroom/replay.py): the
// hello before a connection's first step is no reply, a close the page asked for is none.
// Its ⚑ button picks it; POST /lab/findings {steps, wrong: {step, frame}, expected, actual}
// gets the verdict. Frames and texts are the trainee's: textContent only, never HTML.
"use strict";

const Report = {
  MAX_STEPS: 200,  // classroom/steps.py's limits
  MAX_WAIT_MS: 10_000,
  WS_PATHS: ["/ws", "/ws/orders"],  // /ws/echo has nothing to replay
  HTTP_PATH: /^\/(orders(\/[^/?#]{1,40}(\/[a-z_]{1,20})?)?|stats|broadcast)$/,
  steps: [],
  lastAt: 0,
  conns: 0,
  conn: null,  // the playground's socket: {name, path, step, replies, closing}
  picked: null,  // {step, frame, row}
  prefilled: null,  // what pick() wrote into "actual"

  // ---- recording -----------------------------------------------------------------------
  // a path as the replay takes it: no secrets in it (the twin has no identities anyway)
  path(url) {
    const parsed = new URL(url, location.origin);
    for (const secret of ["token", "class_code"]) parsed.searchParams.delete(secret);
    return parsed.pathname + parsed.search;
  },

  add(step) {
    if (Report.steps.length >= Report.MAX_STEPS) {
      Report.show();
      return null;
    }
    const now = performance.now();
    const last = Report.steps[Report.steps.length - 1];
    if (last) last.wait_ms = Math.min(Report.MAX_WAIT_MS, Math.round(now - Report.lastAt));
    Report.lastAt = now;
    Report.steps.push(step);
    Report.show();
    return Report.steps.length;
  },

  opened(url) {
    const path = Report.path(url);
    const replayable = Report.WS_PATHS.includes(new URL(url, location.origin).pathname);
    Report.conn = replayable ? {name: `c${++Report.conns}`, path, step: null, replies: 0,
                                closing: false} : null;
  },

  closing() { if (Report.conn) Report.conn.closing = true; },

  sent(text) {
    const conn = Report.conn;
    if (!conn) return;
    const step = Report.add({conn: conn.name, path: conn.path, text});
    conn.step = step;
    conn.replies = 0;
  },

  received(row) {
    const conn = Report.conn;
    if (conn && conn.step !== null) Report.pickable(row, conn.step, ++conn.replies);
  },

  closed(row) {
    const conn = Report.conn;
    if (conn && conn.step !== null && !conn.closing) {
      Report.pickable(row, conn.step, ++conn.replies);
    }
    Report.conn = null;
  },

  rest(method, path, body) {  // the step's number, or null: a call the replay cannot make
    const clean = Report.path(path);
    if (!["GET", "POST"].includes(method) || !Report.HTTP_PATH.test(clean.split("?")[0])) {
      return null;
    }
    const step = {http: method, path: clean};
    if (method === "POST" && body.trim() !== "") {
      try { step.json = JSON.parse(body); } catch { return null; }
    }
    return Report.add(step);
  },

  restAnswer(step, status, text) {  // an HTTP step's one reply: {"status", "body"}
    const button = document.getElementById("rest-pick");
    button.disabled = step === null;
    button.onclick = () => Report.pick(step, 1, `${status} ${text}`, null);
  },

  clear() {
    Report.steps = [];
    if (Report.conn) Report.conn.step = null;  // what it gets now answers nothing recorded
    Report.unpick();
    Report.show();
  },

  // ---- the panel -----------------------------------------------------------------------
  pickable(row, step, frame) {
    row.dataset.step = step;
    row.dataset.frame = frame;
    const button = Stand.el("button", {type: "button", class: "pick", "data-raw": true,
                                       text: "⚑", i18nAttr: {title: "rep.pick",
                                                             "aria-label": "rep.pick"}});
    const pick = (event) => {
      event.stopPropagation();  // not the row's pretty-print
      if (event.type === "click") Report.pick(step, frame, row.querySelector(".text").textContent, row);
    };
    button.addEventListener("click", pick);
    button.addEventListener("keydown", (event) => { if (event.key === "Enter") pick(event); });
    row.querySelector(".type").prepend(button, " ");
  },

  pick(step, frame, text, row) {
    Report.unpick();
    Report.picked = {step, frame, row};
    if (row) row.classList.add("picked");
    const $ = (id) => document.getElementById(id);
    Stand.tr($("rep-picked"), "rep.picked", {step, frame});
    $("rep-frame").textContent = Stand.pretty(text);
    const actual = $("rep-actual");  // the frame, unless the trainee wrote their own
    if (actual.value.trim() === "" || actual.value === Report.prefilled) {
      actual.value = Report.prefilled = text.slice(0, 1000);
    }
    $("rep-submit").disabled = false;
    $("rep-expected").focus();
  },

  unpick() {
    if (Report.picked && Report.picked.row) Report.picked.row.classList.remove("picked");
    Report.picked = null;
    const picked = document.getElementById("rep-picked");
    if (!picked) return;
    Stand.tr(picked, "rep.nothingPicked");
    document.getElementById("rep-frame").textContent = "";
    document.getElementById("rep-submit").disabled = true;
  },

  show() {
    const full = Report.steps.length >= Report.MAX_STEPS;
    Stand.tr(document.getElementById("rep-steps"), full ? "rep.full" : "rep.recorded",
             {n: Report.steps.length});
  },

  async submit() {
    const $ = (id) => document.getElementById(id);
    if (!Report.picked) return;
    const body = {steps: Report.steps, wrong: {step: Report.picked.step,
                                               frame: Report.picked.frame},
                  expected: $("rep-expected").value, actual: $("rep-actual").value};
    $("rep-submit").disabled = true;
    Stand.tr($("rep-state"), "rep.judging");
    try {
      const response = await Stand.fetch("/lab/findings", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify(body)});
      const answer = await response.json().catch(() => ({}));
      if (response.status !== 201) {
        const detail = Array.isArray(answer.detail)
          ? answer.detail.map((item) => `${item.loc.join(".")}: ${item.msg}`).join("; ")
          : answer.detail;
        const retry = response.headers.get("Retry-After");
        Stand.raw($("rep-state"), `HTTP ${response.status}: ${detail || response.statusText}` +
                  (retry ? ` (Retry-After: ${retry})` : ""));
        return;
      }
      Stand.raw($("rep-state"), "");
      $("rep-verdict").replaceChildren(Report.verdict(answer));
    } catch (error) {
      Stand.raw($("rep-state"), String(error.message || error));
    } finally {
      $("rep-submit").disabled = Report.picked === null;
    }
  },

  // ---- a verdict (here and on /me) -----------------------------------------------------
  verdict(finding) {
    const {el} = Stand;
    const confirmed = finding.status === "confirmed";
    return el("div", {id: "verdict", "data-status": finding.status},
      el("div", {class: "row"},
        el("b", {class: `state ${confirmed ? "ok" : "closed"}`,
                 i18n: confirmed ? "find.confirmed" : "find.notReproduced"}),
        confirmed ? el("span", {i18n: "rep.bugIs"}) : null,
        confirmed ? el("code", {id: "verdict-bug", text: finding.bug}) : null),
      el("div", {class: "muted", "data-raw": true, text: finding.detail ?? ""}),
      Report.sides(finding, !confirmed));
  },

  sides(finding, open = false) {  // the pointed reply on the clean twin and on the buggy one
    const {el} = Stand;
    const side = (key, value) => el("div", {},
      el("b", {i18n: key}),
      el("pre", {class: key === "find.clean" ? "clean" : "buggy",
                 text: value === null || value === undefined ? "—"
                   : JSON.stringify(value, null, 2)}));
    return el("details", {open},
      el("summary", {i18n: "find.sides"}),
      el("div", {class: "grid2"}, side("find.clean", finding.clean),
         side("find.buggy", finding.buggy)));
  },
};
