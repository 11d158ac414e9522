// The portal: every URL a trainee needs, for each address the stand listens on, and the live
// state of PostgreSQL and Kafka (from /health, every 3 s).
"use strict";

(async () => {
  const {el} = Stand;
  const stand = await Stand.header("/");
  if (!stand.lab_pages) {
    for (const node of document.querySelectorAll(".lab")) node.classList.add("hidden");
  }
  const bases = stand.urls && stand.urls.length ? stand.urls : [location.origin];
  const channel = stand.default_channel || "general";
  const rows = [];
  for (const base of bases) {
    const ws = Stand.wsBase(base);
    rows.push(
      ["WebSocket, envelope protocol", `${ws}/ws?channel=${channel}`],
      ["WebSocket, orders channel", `${ws}/ws?channel=${stand.orders_channel || "orders"}`],
      ["WebSocket, legacy orders protocol", `${ws}/ws/orders`],
      ["WebSocket, echo", `${ws}/ws/echo`],
      ["REST docs (Swagger UI)", `${base}/docs`],
      ["OpenAPI document", `${base}/openapi.json`],
      ["AsyncAPI document (WebSocket)", `${base}/asyncapi.json`],
      ["Health", `${base}/health`],
      ["Connections by channel", `${base}/stats`],
      ["Orders (REST)", `${base}/orders`],
      ["Postman collection (REST, with tests)", `${base}/postman/qakit-trio.postman_collection.json`],
      ["Postman environment", `${base}/postman/qakit-trio.postman_environment.json`]);
  }
  const body = document.querySelector("#urls tbody");
  for (const [what, url] of rows) {
    const link = url.startsWith("http") ? el("a", {href: url, text: url}) : el("code", {text: url});
    body.append(el("tr", {}, el("td", {text: what}), el("td", {}, link)));
  }
  document.getElementById("profile").textContent =
    `Profile: ${stand.profile}` + (stand.profile === "qa_kit"
      ? " (behaves like the original QA Kit stand)" : " (this service's documented contract)") +
    `. wss:// works the same way behind a TLS proxy.`;
  const guides = document.getElementById("guides");
  for (const guide of stand.guides || []) {
    guides.append(el("li", {}, el("a", {href: `/guides/${guide.name}`, text: guide.title}),
                     el("span", {class: "muted", text: ` (${guide.name})`})));
  }

  function show(id, state) {
    const node = document.getElementById(id);
    node.textContent = state;
    node.className = `state ${state}`;
  }

  async function refresh() {
    try {
      const health = await Stand.getJSON("/health");
      show("service-state", health.status || "ok");
      if (health.database) {
        show("db-state", stand.database ? health.database.state : "disabled");
        show("kafka-state", health.kafka.state);
        document.getElementById("connections").textContent =
          `${health.connections} WebSocket connection(s)`;
        const details = [];
        if (health.database.error) details.push(`PostgreSQL: ${health.database.error}`);
        if (health.kafka.error) details.push(`Kafka: ${health.kafka.error}`);
        if (!stand.database) details.push("orders are kept in memory (DATABASE_URL is not set)");
        if (!stand.kafka) details.push("no Kafka (KAFKA_BOOTSTRAP_SERVERS is not set)");
        document.getElementById("status-detail").textContent = details.join(" · ");
      } else {  // the qa_kit profile's /health has the original's two fields only
        show("db-state", stand.database ? "configured" : "disabled");
        show("kafka-state", stand.kafka ? "configured" : "disabled");
      }
    } catch (error) {
      show("service-state", "down");
      document.getElementById("status-detail").textContent = String(error);
    }
  }
  await refresh();
  setInterval(refresh, 3000);
})();
