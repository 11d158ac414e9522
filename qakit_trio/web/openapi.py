"""The OpenAPI document of the REST API (/openapi.json) and its interactive page (/docs).

Written by hand (quart has no schema generator) and checked against the app's routes by
tests/test_openapi.py, so a route cannot be added without being documented. /docs is Swagger
UI, loaded from a CDN as FastAPI's /docs is (the original stand ran on FastAPI).
"""

from __future__ import annotations

from typing import Any

from qakit_trio import __version__
from qakit_trio.domain.orders import MAX_CUSTOMER_LENGTH, VERBS, Status

ERROR = {"type": "object", "properties": {"detail": {"type": "string"},
                                          "error": {"type": "string"}}}
# FastAPI's validation error body (the original stand's), as FastAPI documents it
VALIDATION_ERROR = {"type": "object", "properties": {"detail": {"type": "array", "items": {
    "type": "object", "required": ["type", "loc", "msg", "input"],
    "properties": {"type": {"type": "string"},
                   "loc": {"type": "array", "items": {"anyOf": [{"type": "string"},
                                                                {"type": "integer"}]}},
                   "msg": {"type": "string"}, "input": {}, "ctx": {"type": "object"}}}}}}
ORDER = {
    "type": "object",
    "required": ["id", "customer", "status"],
    "properties": {
        "id": {"type": "integer", "example": 1},
        "customer": {"type": "string", "example": "Yulia"},
        "status": {"type": "string", "enum": [s.value for s in Status]},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}}
FAILURES = {"422": _json(_ref("HTTPValidationError"), "Validation Error"),
            "503": _json(_ref("Error"), "The database is unavailable")}


def document() -> dict[str, Any]:
    change = {
        "post": {
            "summary": "Change an order's status",
            "description": "Allowed: created → paid | cancelled; paid → shipped | cancelled; "
                           "shipped → delivered.",
            "parameters": [ORDER_ID],
            "responses": {"200": _json(_ref("Order"), "The changed order"),
                          "400": _json(_ref("Error"), "Cannot change status from '…' to '…'"),
                          "404": _json(_ref("Error"), "Order not found"), **FAILURES},
        }
    }
    paths: dict[str, Any] = {
        "/health": {"get": {"summary": "Is the service alive; database state",
                            "responses": {"200": _json({"type": "object"}, "Health")}}},
        "/stats": {"get": {"summary": "Connections by channel",
                           "responses": {"200": _json({"type": "object"}, "Counts")}}},
        "/broadcast": {"post": {
            "summary": "Send a message to every WebSocket client of a channel",
            "parameters": [
                {"name": "message", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "channel", "in": "query", "required": False,
                 "schema": {"type": "string", "default": "general"}}],
            "responses": {"200": _json({"type": "object"}, "Delivered"),
                          "400": _json(_ref("Error"), "Invalid channel"),
                          "422": FAILURES["422"]}}},
        "/orders": {
            "get": {"summary": "All orders, by id",
                    "responses": {"200": _json({"type": "array", "items": _ref("Order")},
                                               "Orders"), "503": FAILURES["503"]}},
            "post": {"summary": "Create an order",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"type": "object", "required": ["customer"], "properties": {
                             "customer": {"type": "string", "minLength": 1,
                                          "maxLength": MAX_CUSTOMER_LENGTH}}}}}},
                     "responses": {"200": _json(_ref("Order"), "The new order"), **FAILURES}},
        },
        "/orders/{order_id}": {"get": {
            "summary": "One order", "parameters": [ORDER_ID],
            "responses": {"200": _json(_ref("Order"), "The order"),
                          "404": _json(_ref("Error"), "Order not found"), **FAILURES}}},
    }
    bug_list = _json({"type": "object", "properties": {"bugs": {"type": "array", "items": {
        "type": "object", "properties": {"name": {"type": "string"},
                                         "enabled": {"type": "boolean"},
                                         "surface": {"type": "string"},
                                         "summary": {"type": "string"}}}}}},
        "The bug catalogue, each with whether it is on")
    paths["/lab/bugs"] = {
        "get": {"summary": "The lab's defects (for teachers): which are on",
                "tags": ["Lab"], "responses": {"200": bug_list}},
        "put": {"summary": "Switch the lab's defects: exactly these on, the others off",
                "tags": ["Lab"],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["enabled"], "properties": {
                        "enabled": {"type": "array", "items": {"type": "string"}}}}}}},
                "responses": {"200": bug_list, "422": FAILURES["422"]}}}
    rules = _json({"type": "object", "properties": {
        "seed": {"type": "integer", "nullable": True},
        "rules": {"type": "array", "items": {"type": "object", "properties": {
            "match": {"type": "object", "properties": {"action": {"type": "string"},
                                                       "channel": {"type": "string"},
                                                       "surface": {"enum": ["ws"]}}},
            "fault": {"type": "object"},
            "probability": {"type": "number", "minimum": 0, "maximum": 1}}}}}},
        "The fault rules in force and their seed")
    paths["/lab/faults"] = {
        "get": {"summary": "The lab's fault rules (for teachers)", "tags": ["Lab"],
                "responses": {"200": rules}},
        "put": {"summary": "Replace the fault rules (seeded: a scenario repeats exactly)",
                "tags": ["Lab"], "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": rules, "422": FAILURES["422"]}},
        "delete": {"summary": "No fault rules", "tags": ["Lab"], "responses": {"200": rules}}}
    for verb in VERBS:
        paths[f"/orders/{{order_id}}/{verb}"] = change
    return {
        "openapi": "3.0.3",
        "info": {"title": "QA Kit WebSocket service (qakit-trio)", "version": __version__,
                 "description": "REST side of the stand. The WebSocket endpoints are "
                                "ws://HOST:PORT/ws?channel=NAME (envelope protocol), "
                                "/ws/orders (legacy orders protocol) and /ws/echo; see README."},
        "paths": paths,
        "components": {"schemas": {"Order": ORDER, "Error": ERROR,
                                   "HTTPValidationError": VALIDATION_ERROR}},
    }


DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>qakit-trio API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
<noscript>The interactive page needs JavaScript; the document is at
<a href="/openapi.json">/openapi.json</a>.</noscript>
</body></html>
"""
