"""The OpenAPI document of the REST API (/openapi.json) and its interactive page (/docs).

Written by hand (quart has no schema generator) and checked against the app's routes by
tests/web/test_rest_orders.py, so a route cannot be added without being documented. /docs is Swagger
UI from the swagger-ui-bundle package, served by the stand itself (web/pages.py): it works
offline, where FastAPI's /docs (the original stand's) loads it from a CDN.
"""

from __future__ import annotations

from typing import Any

from qakit_trio import __version__
from qakit_trio.domain.orders import MAX_CUSTOMER_LENGTH, VERBS, Status
from qakit_trio.web import openapi_classroom
from qakit_trio.web.rest_orders import LIST_LIMIT
from qakit_trio.web.task_tree import MAX_LIMIT

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}, "error": {"type": "string"}},
}
# FastAPI's validation error body (the original stand's), as FastAPI documents it
VALIDATION_ERROR = {
    "type": "object",
    "properties": {
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "loc", "msg", "input"],
                "properties": {
                    "type": {"type": "string"},
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "input": {},
                    "ctx": {"type": "object"},
                },
            },
        }
    },
}
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
FAILURES = {
    "422": _json(_ref("HTTPValidationError"), "Validation Error"),
    "503": _json(_ref("Error"), "The database is unavailable"),
}


def _list_orders() -> dict[str, Any]:
    page = [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": LIST_LIMIT,
                "default": LIST_LIMIT,
            },
        },
        {
            "name": "offset",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 0, "default": 0},
            "description": "how many orders (by id) to skip",
        },
    ]
    orders = _json({"type": "array", "items": _ref("Order")}, "Orders")
    orders["headers"] = {
        "Link": {
            "description": 'only when more orders follow: </orders?limit=…&offset=…>; rel="next"',
            "schema": {"type": "string"},
        }
    }
    return {
        "summary": f"Orders by id, a page at a time (all of them, up to {LIST_LIMIT})",
        "parameters": page,
        "responses": {"200": orders, **FAILURES},
    }


def _lab_pages() -> dict[str, Any]:
    limit = {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20},
    }
    expand = {
        "name": "expand",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": f"task kinds to list in full (up "
        f"to {MAX_LIMIT}), comma-separated (the others are grouped above `limit`)",
    }
    event_id = {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/debug/tasks": {
            "get": {
                "summary": "The live trio task tree of the server (the /tasks page)",
                "tags": ["Lab pages"],
                "parameters": [limit, expand],
                "responses": {
                    "200": _json({"type": "object"}, "root, tasks, by_kind"),
                    "400": _json(_ref("Error"), "Invalid limit"),
                },
            }
        },
        "/debug/events/{event_id}": {
            "get": {
                "summary": "One event's log line and Kafka record (the inspector)",
                "tags": ["Lab pages"],
                "parameters": [event_id],
                "responses": {"200": _json({"type": "object"}, "event_id, log_lines, kafka")},
            }
        },
    }


def document(lab_pages: bool = True, auth: bool = False) -> dict[str, Any]:
    """The document; `lab_pages` (QAKIT_LAB_PAGES): with the inspector's JSON routes."""
    change = {
        "post": {
            "summary": "Change an order's status",
            "description": "Allowed: created → paid | cancelled; paid → shipped | cancelled; "
            "shipped → delivered.",
            "parameters": [ORDER_ID],
            "responses": {
                "200": _json(_ref("Order"), "The changed order"),
                "400": _json(_ref("Error"), "Cannot change status from '…' to '…'"),
                "404": _json(_ref("Error"), "Order not found"),
                **FAILURES,
            },
        }
    }
    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "summary": "Is the service alive; database state",
                "responses": {"200": _json({"type": "object"}, "Health")},
            }
        },
        "/stats": {
            "get": {
                "summary": "Connections by channel",
                "responses": {"200": _json({"type": "object"}, "Counts")},
            }
        },
        "/broadcast": {
            "post": {
                "summary": "Send a message to every WebSocket client of a channel",
                "parameters": [
                    {
                        "name": "message",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "channel",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "default": "general"},
                    },
                ],
                "responses": {
                    "200": _json({"type": "object"}, "Delivered"),
                    "400": _json(_ref("Error"), "Invalid channel"),
                    "422": FAILURES["422"],
                },
            }
        },
        "/orders": {
            "get": _list_orders(),
            "post": {
                "summary": "Create an order",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["customer"],
                                "properties": {
                                    "customer": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": MAX_CUSTOMER_LENGTH,
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json(_ref("Order"), "The new order"), **FAILURES},
            },
        },
        "/orders/{order_id}": {
            "get": {
                "summary": "One order",
                "parameters": [ORDER_ID],
                "responses": {
                    "200": _json(_ref("Order"), "The order"),
                    "404": _json(_ref("Error"), "Order not found"),
                    **FAILURES,
                },
            }
        },
    }
    bug_list = _json(
        {
            "type": "object",
            "properties": {
                "bugs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "enabled": {"type": "boolean"},
                            "surface": {"type": "string"},
                            "summary": {"type": "string"},
                        },
                    },
                }
            },
        },
        "The bug catalogue, each with whether it is on",
    )
    paths["/lab/bugs"] = {
        "get": {
            "summary": "The lab's defects (for teachers): which are on",
            "tags": ["Lab"],
            "responses": {"200": bug_list},
        },
        "put": {
            "summary": "Switch the lab's defects: exactly these on, the others off",
            "tags": ["Lab"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["enabled"],
                            "properties": {
                                "enabled": {"type": "array", "items": {"type": "string"}}
                            },
                        }
                    }
                },
            },
            "responses": {"200": bug_list, "422": FAILURES["422"]},
        },
    }
    rules = _json(
        {
            "type": "object",
            "properties": {
                "seed": {"type": "integer", "nullable": True},
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "match": {
                                "type": "object",
                                "properties": {
                                    "action": {"type": "string"},
                                    "channel": {"type": "string"},
                                    "surface": {"enum": ["ws"]},
                                },
                            },
                            "fault": {"type": "object"},
                            "probability": {"type": "number", "minimum": 0, "maximum": 1},
                        },
                    },
                },
            },
        },
        "The fault rules in force and their seed",
    )
    paths["/lab/faults"] = {
        "get": {
            "summary": "The lab's fault rules (for teachers)",
            "tags": ["Lab"],
            "responses": {"200": rules},
        },
        "put": {
            "summary": "Replace the fault rules (seeded: a scenario repeats exactly)",
            "tags": ["Lab"],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {"200": rules, "422": FAILURES["422"]},
        },
        "delete": {"summary": "No fault rules", "tags": ["Lab"], "responses": {"200": rules}},
    }
    paths["/lab/blip"] = openapi_classroom.BLIP  # (reconnection practice: web/lab.py)
    for verb in VERBS:
        paths[f"/orders/{{order_id}}/{verb}"] = change
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics (text format; the list: docs/observability.md)",
            "responses": {
                "200": {
                    "description": "Metrics",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    paths["/stand.json"] = {
        "get": {
            "summary": "What the browser pages need: URLs, profile, guides",
            "tags": ["Pages"],
            "responses": {"200": _json({"type": "object"}, "The stand")},
        }
    }
    token = {"name": {"type": "string"}, "class_code": {"type": "string"}}
    auth_paths: dict[str, Any] = {}
    auth_paths["/auth/token"] = {  # QAKIT_AUTH=on only (web/identities.py)
        "post": {
            "summary": "A token: a trainee's (name and class code), or the teacher's pick",
            "tags": ["Auth"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "properties": {
                                **token,
                                "role": {"type": "string"},
                                "ttl_s": {"type": "integer"},
                            }
                        }
                    }
                },
            },
            "responses": {
                "200": _json({"type": "object"}, "The token, its type (Bearer) and life"),
                "401": _json(_ref("Error"), "A wrong class code or bearer"),
                "422": FAILURES["422"],
                "429": _json(_ref("Error"), "Too many attempts (QAKIT_RATE_LIMIT)"),
            },
        }
    }
    paths.update(openapi_classroom.paths())  # web/classroom.py's routes
    if auth:
        paths.update(auth_paths)
    if lab_pages:
        paths.update(_lab_pages())
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "QA Kit WebSocket service (qakit-trio)",
            "version": __version__,
            "description": "REST side of the stand. The WebSocket endpoints are "
            "ws://HOST:PORT/ws?channel=NAME (envelope protocol), "
            "/ws/orders (legacy orders protocol) and /ws/echo, described in "
            "the AsyncAPI document /asyncapi.json.",
        },
        "paths": paths,
        "components": {
            "schemas": {"Order": ORDER, "Error": ERROR, "HTTPValidationError": VALIDATION_ERROR}
        },
    }
