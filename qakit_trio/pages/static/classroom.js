// The teacher's board: GET /lab/classroom read every POLL_MS (a poll, not a stream: the
// roster, the assignments and the findings change a few times a minute), one row per person;
// the actions go over the API any client has: deal (POST /lab/assignments/shuffle), clear
// (DELETE /lab/assignments), reveal (POST /lab/assignments/NAME/reveal), findings.csv.
// A row is kept between reads and only the cells whose data changed are drawn again, so a
// button is never replaced under the teacher's pointer. Names, bugs and findings come from
// trainees: textContent only (Stand.el's `text`), never HTML.
"use strict";

(async () => {
  const {el} = Stand;
  const $ = (id) => document.getElementById(id);
  const stand = await Stand.header("/classroom");
  const POLL_MS = 2000;
  const SHOWN_FINDINGS = 5;  // the latest of each person's, on the board (the CSV has all)
  const rows = new Map();  // name -> {tr, cells: {key: [td, drawn as JSON]}}
  $("auth-off").classList.toggle("hidden", Boolean(stand.auth));
  for (const id of ["deal", "per-trainee", "seed"]) $(id).disabled = !stand.auth;

  // the teacher's call: asks for the teacher token on 401/403 (once), then tries again
  async function call(path, init = {}) {
    for (;;) {
      const response = await Stand.fetch(path, init);
      if (response.status === 401 || response.status === 403) {
        await Stand.askTeacher(response.status);
        continue;
      }
      return response;
    }
  }

  async function problem(response) {  // the stand's `detail`, as a sentence
    const body = await response.json().catch(() => ({}));
    const detail = Array.isArray(body.detail)
      ? body.detail.map((item) => item.msg).join("; ") : body.detail;
    return `HTTP ${response.status}: ${detail || response.statusText}`;
  }

  // ---- the board -----------------------------------------------------------------------
  const time = (iso) => Stand.clock(new Date(iso)).slice(0, 8);

  function findingsCell(person) {
    const shown = person.findings.slice(-SHOWN_FINDINGS).reverse();  // the latest first
    const cell = el("div");
    for (const finding of shown) {
      const confirmed = finding.status === "confirmed";
      cell.append(el("div", {class: `finding ${confirmed ? "confirmed" : "not-reproduced"}`,
                             "data-status": finding.status, "data-bug": finding.bug ?? ""},
        el("span", {class: "mono", text: time(finding.at)}), " ",
        el("span", {i18n: confirmed ? "find.confirmed" : "find.notReproduced"}), " ",
        finding.bug ? el("code", {text: finding.bug}) : ""));
    }
    if (person.findings.length > shown.length) {
      cell.append(el("div", {class: "muted", i18n: "cls.more",
                             args: {n: person.findings.length - shown.length}}));
    }
    cell.append(el("div", {class: "muted", i18n: "cls.counts",
                           args: {confirmed: person.confirmed, other: person.not_reproduced}}));
    return cell;
  }

  function bugsCell(person) {
    if (!person.bugs.length) return el("span", {class: "muted", i18n: "cls.noBugs"});
    return el("span", {}, ...person.bugs.map((bug) => el("code", {
      text: bug, class: person.found.includes(bug) ? "found" : null,
      i18nAttr: person.found.includes(bug) ? {title: "cls.foundIt"} : null})));
  }

  function actionsCell(person) {
    if (!person.bugs.length) return el("span");
    if (person.revealed) return el("span", {class: "muted revealed", i18n: "cls.revealed"});
    return el("button", {type: "button", class: "reveal", i18n: "cls.reveal",
                         onclick: (event) => reveal(person.name, event.target)});
  }

  // what each cell shows: [what it is drawn from (compared as JSON), how]
  const CELLS = {
    name: [(p) => [p.name, p.role], (p) => el("span", {},
      el("b", {text: p.name}), " ",
      el("span", {class: "muted", i18n: p.role === "teacher" ? "cls.teacher" : "cls.trainee"}))],
    signedIn: [(p) => p.signed_in, (p) => el("span", {i18n: p.signed_in ? "cls.yes" : "cls.no"})],
    connections: [(p) => p.connections, (p) => el("span", {text: String(p.connections)})],
    // where the trainee is (several instances behind a balancer: QAKIT_CLUSTER=kafka): their
    // least idle connection's instance, then any other they are connected to
    instance: [(p) => [p.instance, p.instances], (p) => (p.instance === null
      ? el("span", {class: "muted", text: "—"})
      : el("span", {}, el("code", {text: p.instance}),
        ...p.instances.filter((id) => id !== p.instance).map(
          (id) => el("span", {class: "muted", text: ` + ${id}`}))))],
    idle: [(p) => p.idle_s, (p) => (p.idle_s === null ? el("span", {class: "muted", text: "—"})
      : el("span", {i18n: "cls.seconds", args: {s: Math.round(p.idle_s)}}))],
    bugs: [(p) => [p.bugs, p.found], bugsCell],
    findings: [(p) => p.findings.map((f) => f.id).concat([p.confirmed, p.not_reproduced]),
      findingsCell],
    progress: [(p) => p.progress, (p) => el("b", {text: p.progress})],
    actions: [(p) => [p.bugs.length, p.revealed], actionsCell],
  };

  function draw(board) {
    const seen = new Set();
    const body = $("people").tBodies[0];
    for (const person of board.people) {
      seen.add(person.name);
      let row = rows.get(person.name);
      if (!row) {
        row = {tr: el("tr", {"data-name": person.name}), cells: {}};
        for (const key of Object.keys(CELLS)) {
          const td = el("td", {class: key});
          row.tr.append(td);
          row.cells[key] = [td, null];
        }
        rows.set(person.name, row);
      }
      body.append(row.tr);  // in the board's order (by name)
      for (const [key, [data, drawCell]] of Object.entries(CELLS)) {
        const drawn = JSON.stringify(data(person));
        const cell = row.cells[key];
        if (cell[1] === drawn) continue;
        cell[0].replaceChildren(drawCell(person));
        cell[1] = drawn;
      }
    }
    for (const [name, row] of rows) {
      if (!seen.has(name)) { row.tr.remove(); rows.delete(name); }
    }
    Stand.tr($("people-count"), "cls.count", {n: board.people.length});
    $("nobody").classList.toggle("hidden", board.people.length > 0);
    $("auth-off").classList.toggle("hidden", Boolean(board.auth));
  }

  async function poll() {
    try {
      const response = await call("/lab/classroom", {headers: {Accept: "application/json"}});
      if (!response.ok) throw new Error(await problem(response));
      draw(await response.json());
      Stand.tr($("board-state"), "state.live");
      $("board-state").className = "state open";
      Stand.raw($("board-error"), "");
    } catch (error) {
      Stand.tr($("board-state"), "cls.stale");
      $("board-state").className = "state closed";
      Stand.raw($("board-error"), String(error.message || error));
    }
    setTimeout(poll, POLL_MS);
  }

  // ---- the actions ---------------------------------------------------------------------
  function said(key, args) { Stand.tr($("deal-result"), key, args); }
  function failed(text) { Stand.raw($("deal-result"), text); }

  async function loadPool() {
    const response = await call("/lab/bugs", {headers: {Accept: "application/json"}});
    if (!response.ok) { failed(await problem(response)); return; }
    const {bugs} = await response.json();
    $("pool").replaceChildren(...bugs.map((bug) => el("label", {title: bug.summary},
      el("input", {type: "checkbox", value: bug.name, checked: true}),
      el("code", {text: bug.name}))));
  }
  const pool = () => [...$("pool").querySelectorAll("input:checked")].map((box) => box.value);
  const tick = (on) => () => {
    for (const box of $("pool").querySelectorAll("input")) box.checked = on;
  };
  $("pool-all").addEventListener("click", tick(true));
  $("pool-none").addEventListener("click", tick(false));

  $("deal").addEventListener("click", async () => {
    const body = {pool: pool(), per_trainee: Number($("per-trainee").value) || 1};
    if ($("seed").value.trim() !== "") body.seed = Number($("seed").value);
    const response = await call("/lab/assignments/shuffle", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body)});
    if (!response.ok) { failed(await problem(response)); return; }
    const dealt = await response.json();
    said("cls.dealt", {n: Object.keys(dealt.assignments).length, seed: dealt.seed});
  });

  $("clear-assignments").addEventListener("click", async () => {
    if (!window.confirm(Stand.t("cls.clearConfirm"))) return;
    const response = await call("/lab/assignments", {method: "DELETE"});
    if (!response.ok) { failed(await problem(response)); return; }
    said("cls.cleared");
  });

  async function reveal(name, button) {
    button.disabled = true;
    const response = await call(`/lab/assignments/${encodeURIComponent(name)}/reveal`,
                                {method: "POST"});
    if (!response.ok) { failed(await problem(response)); button.disabled = false; return; }
    said("cls.revealedTo", {name});
  }

  // the CSV needs the teacher's bearer: fetched with it, then saved from a blob
  $("csv").addEventListener("click", async () => {
    const response = await call("/lab/findings.csv");
    if (!response.ok) { failed(await problem(response)); return; }
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", {href: url, download: "findings.csv", class: "hidden"});
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    said("cls.csvSaved");
  });

  await poll();
  await loadPool();
})();
