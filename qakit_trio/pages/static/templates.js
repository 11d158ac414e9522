// Message templates of both protocols, by path. `{rid}` becomes a fresh request_id.
"use strict";

const TEMPLATES = {
  "/ws": [
    ["echo", {action: "echo", request_id: "{rid}", payload: {text: "hello"}}],
    ["triplet_demo (ack, step 1, step 2, event)", {action: "triplet_demo", request_id: "{rid}"}],
    ["broadcast to my channel", {action: "broadcast", request_id: "{rid}",
                                 payload: {message: "hello, channel"}}],
    ["create_order", {action: "create_order", request_id: "{rid}",
                      payload: {customer: "Yulia"}}],
    ["get_order", {action: "get_order", request_id: "{rid}", payload: {id: 1}}],
    ["list_orders", {action: "list_orders", request_id: "{rid}", payload: {limit: 5}}],
    ["change_status → paid", {action: "change_status", request_id: "{rid}",
                              payload: {id: 1, status: "paid"}}],
    ["echo without request_id (the server assigns one)", {action: "echo", payload: {n: 1}}],
    ["fault: replies 2 s late", {action: "echo", request_id: "{rid}", payload: {},
                                 fault: {delay_ms: 2000}}],
    ["fault: no ack", {action: "echo", request_id: "{rid}", payload: {},
                       fault: {drop: ["ack"]}}],
    ["fault: event twice", {action: "echo", request_id: "{rid}", payload: {},
                            fault: {duplicate: ["event"]}}],
    ["fault: reordered", {action: "triplet_demo", request_id: "{rid}", fault: {reorder: true}}],
    ["fault: fragmented in 4", {action: "echo", request_id: "{rid}", payload: {text: "split"},
                                fault: {fragment: 4}}],
    ["fault: server closes with 4000", {action: "echo", request_id: "{rid}", payload: {},
                                        fault: {close: 4000}}],
    ["error: unknown action", {action: "fly", request_id: "{rid}"}],
    ["error: validation (id is a string)", {action: "get_order", request_id: "{rid}",
                                            payload: {id: "1"}}],
    ["error: not JSON", "{not json"],
  ],
  "/ws/orders": [
    ["ping", {action: "ping"}],
    ["create_order", {action: "create_order", customer: "Yulia"}],
    ["get_order", {action: "get_order", order_id: 1}],
    ["change_status → paid", {action: "change_status", order_id: 1, status: "paid"}],
    ["error: not allowed (delivered → paid)",
     {action: "change_status", order_id: 1, status: "created"}],
    ["error: customer missing", {action: "create_order"}],
    ["error: unknown action", {action: "fly"}],
  ],
  "/ws/echo": [
    ["text", "hello, echo"],
    ["JSON", {any: "JSON", comes: ["back", "unchanged"]}],
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
