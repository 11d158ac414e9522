// The portal: every URL a trainee needs, for each address the stand listens on, and the live
// state of PostgreSQL and Kafka (from /health, every 3 s).
"use strict";

(async () => {
  const {el} = Stand;
  const stand = await Stand.header("/");
  if (!stand.lab_pages) {
    for (const node of document.querySelectorAll(".lab")) node.classList.add("hidden");
  }
  if (stand.auth) signInBox();
  const bases = stand.urls && stand.urls.length ? stand.urls : [location.origin];
  const channel = stand.default_channel || "general";
  const rows = [];
  for (const base of bases) {
    const ws = Stand.wsBase(base);
    rows.push(
      ["portal.url.ws", `${ws}/ws?channel=${channel}`],
      ["portal.url.ordersChannel", `${ws}/ws?channel=${stand.orders_channel || "orders"}`],
      ["portal.url.legacy", `${ws}/ws/orders`],
      ["portal.url.echo", `${ws}/ws/echo`],
      ["portal.url.docs", `${base}/docs`],
      ["portal.url.openapi", `${base}/openapi.json`],
      ["portal.url.asyncapi", `${base}/asyncapi.json`],
      ["portal.url.health", `${base}/health`],
      ["portal.url.stats", `${base}/stats`],
      ["portal.url.orders", `${base}/orders`],
      ["portal.url.postmanCollection", `${base}/postman/qakit-trio.postman_collection.json`],
      ["portal.url.postmanEnvironment", `${base}/postman/qakit-trio.postman_environment.json`]);
  }
  const body = document.querySelector("#urls tbody");
  for (const [what, url] of rows) {
    const link = url.startsWith("http") ? el("a", {href: url, text: url}) : el("code", {text: url});
    body.append(el("tr", {}, el("td", {i18n: what}), el("td", {"data-raw": true}, link)));
  }
  Stand.tr(document.getElementById("profile"), stand.profile === "qa_kit"
    ? "portal.profile.qaKit" : "portal.profile.default", {profile: stand.profile});
  // the trainee guides of the page's language, by their titles in it; then the stand's
  // documents (English: their titles as /stand.json gives them)
  function listGuides() {
    const guides = document.getElementById("guides");
    const docs = document.getElementById("docs");
    guides.replaceChildren();
    docs.replaceChildren();
    for (const guide of stand.guides || []) {
      const href = `/guides/${guide.name}`;
      const mine = /^guide\/(\w+)\/([\w-]+)\.md$/.exec(guide.name);
      if (guide.name === "guide/README.md") {
        guides.prepend(el("li", {}, el("a", {href, i18n: "portal.guideIndex"})));
      } else if (mine && mine[1] === Stand.lang) {
        const key = `guide.${mine[2]}`;
        guides.append(el("li", {}, Stand.has(key) ? el("a", {href, i18n: key})
          : el("a", {href, "data-raw": true, text: guide.title})));
      } else if (!mine) {
        docs.append(el("li", {"data-raw": true}, el("a", {href, text: guide.title}),
                       el("span", {class: "muted", text: ` (${guide.name})`})));
      }
    }
  }
  listGuides();
  window.addEventListener("stand:language", listGuides);

  // a state from /health, in words, with the value /health gives in its title
  function show(id, state) {
    const node = document.getElementById(id);
    if (Stand.has(`state.${state}`)) Stand.tr(node, `state.${state}`);
    else Stand.raw(node, state);
    node.title = `/health: ${state}`;
    node.className = `state ${state}`;
  }

  function details(...parts) {  // [key, args] from the catalogue, or a string as it came
    const node = document.getElementById("status-detail");
    node.replaceChildren();
    parts.forEach((part, index) => {
      if (index) node.append(" · ");
      node.append(typeof part === "string" ? el("span", {"data-raw": true, text: part})
        : el("span", {i18n: part[0], args: part[1]}));
    });
  }

  async function refresh() {
    try {
      const health = await Stand.getJSON("/health");
      show("service-state", health.status || "ok");
      if (health.database) {
        show("db-state", stand.database ? health.database.state : "disabled");
        show("kafka-state", health.kafka.state);
        Stand.tr(document.getElementById("connections"), "portal.connections",
                 {n: health.connections});
        const found = [];
        if (health.database.error) found.push(`PostgreSQL: ${health.database.error}`);
        if (health.kafka.error) found.push(`Kafka: ${health.kafka.error}`);
        if (!stand.database) found.push(["portal.noDatabase"]);
        if (!stand.kafka) found.push(["portal.noKafka"]);
        details(...found);
      } else {  // the qa_kit profile's /health has the original's two fields only
        show("db-state", stand.database ? "configured" : "disabled");
        show("kafka-state", stand.kafka ? "configured" : "disabled");
      }
    } catch (error) {
      show("service-state", "down");
      details(String(error));
    }
  }
  await refresh();
  setInterval(refresh, 3000);

  // QAKIT_AUTH=on: sign in (a trainee with the class code, or the teacher with the teacher
  // token); the token stays in this tab's sessionStorage (Stand.keep). Signed out, the box
  // says what needs a token.
  function signInBox() {
    const $ = (id) => document.getElementById(id);
    $("auth").classList.remove("hidden");
    function showWho() {
      const kept = Stand.signedIn();
      $("auth-needs").classList.toggle("hidden", kept !== null);
      $("sign-in-forms").classList.toggle("hidden", kept !== null);
      if (kept) {
        Stand.tr($("auth-welcome"), "auth.welcome", {
          name: kept.name, time: Stand.clock(new Date(kept.expires_at * 1000)).slice(0, 8)});
      } else $("auth-welcome").replaceChildren();
    }
    async function signIn(event, given) {
      event.preventDefault();
      try {
        await Stand.signIn(given());
        Stand.raw($("auth-error"), "");
        $("auth-code").value = "";
        $("auth-teacher").value = "";
      } catch (failed) {
        Stand.tr($("auth-error"), "auth.failed", {error: String(failed.message || failed)});
      }
    }
    $("sign-in").addEventListener("submit", (event) => signIn(event, () => (
      {name: $("auth-name").value.trim(), classCode: $("auth-code").value})));
    $("sign-in-teacher").addEventListener("submit", (event) => signIn(event, () => (
      {teacherToken: $("auth-teacher").value.trim()})));
    window.addEventListener("stand:auth", showWho);
    showWho();
  }
})();
