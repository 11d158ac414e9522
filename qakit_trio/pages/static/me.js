// A trainee's own page: their findings and verdicts (GET /lab/findings/mine), read again every
// POLL_MS and on "refresh". The stand names only the bugs this trainee has found, or all of
// theirs once the teacher has revealed them: the page shows what it is given and nothing more.
// Everything here came from the network or from the trainee: textContent only.
"use strict";

(async () => {
  const {el} = Stand;
  const $ = (id) => document.getElementById(id);
  const stand = await Stand.header("/me");
  const POLL_MS = 15000;  // and "Refresh": a verdict shows in the playground at once anyway

  function showAuth() {
    $("me-signed-out").classList.toggle("hidden", !stand.auth || Stand.token() !== null);
    $("me-anonymous").classList.toggle("hidden", Boolean(stand.auth));
  }
  window.addEventListener("stand:auth", () => { showAuth(); load(); });
  showAuth();

  function where(wrong) {  // {"step": 1, "frame": 4} -> step 1, frame 4
    const target = Object.keys(wrong || {}).find((key) => key !== "step");
    return target ? el("span", {i18n: "rep.picked", args: {step: wrong.step, frame: wrong[target]}})
      : el("span");
  }

  function row(finding) {
    const confirmed = finding.status === "confirmed";
    return el("tr", {"data-id": finding.id, "data-status": finding.status},
      el("td", {class: "mono", text: Stand.clock(new Date(finding.at)).slice(0, 8)}),
      el("td", {}, el("span", {class: confirmed ? "confirmed" : "not-reproduced",
                               i18n: confirmed ? "find.confirmed" : "find.notReproduced"}),
        Report.sides(finding)),
      el("td", {}, finding.bug ? el("code", {text: finding.bug}) : ""),
      el("td", {}, where(finding.wrong)),
      el("td", {text: finding.expected ?? ""}),
      el("td", {text: finding.actual ?? ""}));
  }

  function draw(mine) {
    Stand.raw($("me-name"), mine.name ?? "—");
    const bugs = new Set(mine.bugs);
    const found = mine.found.filter((bug) => bugs.has(bug));  // of those assigned to them
    Stand.raw($("me-progress"), `${found.length}/${mine.assigned}`);
    $("my-bugs").replaceChildren(...(mine.bugs.length ? mine.bugs.map((bug) => el("code", {
      text: bug, "data-found": String(mine.found.includes(bug))},
    )) : [el("span", {class: "muted", i18n: "me.noneFound"})]));
    const openIds = new Set([...document.querySelectorAll("#findings details[open]")]
      .map((node) => node.closest("tr").dataset.id));
    const rows = mine.findings.slice().reverse().map(row);  // the latest first
    for (const tr of rows) {
      if (openIds.has(tr.dataset.id)) tr.querySelector("details").open = true;
    }
    $("findings").tBodies[0].replaceChildren(...rows);
    Stand.tr($("findings-count"), "me.count", {n: mine.findings.length});
    $("none-yet").classList.toggle("hidden", mine.findings.length > 0);
  }

  let loading = false;
  async function load() {
    if (loading) return;
    loading = true;
    try {
      const response = await Stand.fetch("/lab/findings/mine",
                                         {headers: {Accept: "application/json"}});
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      draw(await response.json());
      Stand.raw($("me-error"), "");
    } catch (error) {
      Stand.raw($("me-error"), String(error.message || error));
    } finally {
      loading = false;
    }
  }
  $("refresh").addEventListener("click", load);
  await load();
  setInterval(load, POLL_MS);
})();
