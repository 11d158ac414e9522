// Message templates of both protocols, by path: [the catalogue key of its name, the message].
// `{rid}` becomes a fresh request_id; a `payload.since` becomes the last offset and epoch the
// playground saw in that channel, if it saw any (playground.js). The channel templates follow
// one another as a trainee would: subscribe, broadcast there, history, presence, unsubscribe,
// subscribe again with `since` (every template is sent to the stand in that order by
// tests/web/test_playground_templates.py).
"use strict";

const TEMPLATES = {
  "/ws": [
    ["tpl.echo", {action: "echo", request_id: "{rid}", payload: {text: "hello"}}],
    ["tpl.triplet", {action: "triplet_demo", request_id: "{rid}"}],
    ["tpl.broadcast", {action: "broadcast", request_id: "{rid}",
                       payload: {message: "hello, channel"}}],
    ["tpl.subscribe", {action: "subscribe", request_id: "{rid}",
                       payload: {channel: "news", join_leave: true}}],
    ["tpl.broadcastChannel", {action: "broadcast", request_id: "{rid}",
                              payload: {message: "hello, news", channel: "news"}}],
    ["tpl.history", {action: "history", request_id: "{rid}",
                     payload: {channel: "news", limit: 10}}],
    ["tpl.presence", {action: "presence", request_id: "{rid}", payload: {channel: "news"}}],
    ["tpl.unsubscribe", {action: "unsubscribe", request_id: "{rid}", payload: {channel: "news"}}],
    ["tpl.subscribeSince", {action: "subscribe", request_id: "{rid}",
                            payload: {channel: "news",
                                      since: {offset: 0, epoch: "epoch-of-the-last-frame"}}}],
    ["tpl.createOrder", {action: "create_order", request_id: "{rid}",
                         payload: {customer: "Yulia"}}],
    ["tpl.getOrder", {action: "get_order", request_id: "{rid}", payload: {id: 1}}],
    ["tpl.listOrders", {action: "list_orders", request_id: "{rid}", payload: {limit: 5}}],
    ["tpl.changeStatus", {action: "change_status", request_id: "{rid}",
                          payload: {id: 1, status: "paid"}}],
    ["tpl.echoNoId", {action: "echo", payload: {n: 1}}],
    ["tpl.faultDelay", {action: "echo", request_id: "{rid}", payload: {},
                        fault: {delay_ms: 2000}}],
    ["tpl.faultDrop", {action: "echo", request_id: "{rid}", payload: {},
                       fault: {drop: ["ack"]}}],
    ["tpl.faultDuplicate", {action: "echo", request_id: "{rid}", payload: {},
                            fault: {duplicate: ["event"]}}],
    ["tpl.faultReorder", {action: "triplet_demo", request_id: "{rid}", fault: {reorder: true}}],
    ["tpl.faultFragment", {action: "echo", request_id: "{rid}", payload: {text: "split"},
                           fault: {fragment: 4}}],
    ["tpl.faultClose", {action: "echo", request_id: "{rid}", payload: {},
                        fault: {close: 4000}}],
    ["tpl.faultDisconnect", {action: "echo", request_id: "{rid}", payload: {},
                             fault: {disconnect_after_ms: 1000}}],
    ["tpl.errorUnknown", {action: "fly", request_id: "{rid}"}],
    ["tpl.errorValidation", {action: "get_order", request_id: "{rid}",
                             payload: {id: "1"}}],
    ["tpl.errorJson", "{not json"],
  ],
  "/ws/orders": [
    ["tpl.ping", {action: "ping"}],
    ["tpl.createOrder", {action: "create_order", customer: "Yulia"}],
    ["tpl.getOrder", {action: "get_order", order_id: 1}],
    ["tpl.changeStatus", {action: "change_status", order_id: 1, status: "paid"}],
    ["tpl.errorTransition", {action: "change_status", order_id: 1, status: "created"}],
    ["tpl.errorCustomer", {action: "create_order"}],
    ["tpl.errorUnknown", {action: "fly"}],
  ],
  "/ws/echo": [
    ["tpl.text", "hello, echo"],
    ["tpl.json", {any: "JSON", comes: ["back", "unchanged"]}],
  ],
};

const REST_TEMPLATES = [
  ["GET /health", "GET", "/health", ""],
  ["GET /stats", "GET", "/stats", ""],
  ["POST /orders", "POST", "/orders", '{"customer": "Yulia"}'],
  ["GET /orders", "GET", "/orders", ""],
  ["GET /orders/1", "GET", "/orders/1", ""],
  ["POST /orders/1/pay", "POST", "/orders/1/pay", ""],
  ["POST /broadcast", "POST", "/broadcast?message=hello&channel=general", ""],
  ["GET /lab/bugs", "GET", "/lab/bugs", ""],
];
