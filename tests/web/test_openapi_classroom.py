"""The OpenAPI document lists every route of web/classroom.py, with its methods, and says who may
call each as auth/users.py decides it (the teacher, or any signed-in user). In-process: the
app's url_map, no socket (the whole document against every route, on a real socket:
tests/web/test_rest_orders.py)."""

from __future__ import annotations

import re
from typing import Any

from qakit_trio.app import create_app
from qakit_trio.auth.users import TEACHER, path_needs
from qakit_trio.config import Settings
from qakit_trio.web import openapi, openapi_classroom

AUTH = Settings(auth=True, teacher_token="teacher-token-0123456789", class_code="lesson-7")
METHODS = ("GET", "POST", "PUT", "DELETE")
# under a user's path (auth/users.py USER_PATHS) but the teacher's: the route checks itself
TEACHERS_INSIDE = {("/lab/findings", "get"), ("/lab/findings", "delete")}


def classroom_routes(app: Any) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of each route web/classroom.py registered."""
    found = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if view.__module__ != "qakit_trio.web.classroom":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        found |= {(path, method.lower()) for method in rule.methods or () if method in METHODS}
    return found


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, ops in document["paths"].items() for method in ops}


def test_every_classroom_route_is_in_the_document_with_auth_off_and_on() -> None:
    for settings, auth in ((Settings(), False), (AUTH, True)):
        routes = classroom_routes(create_app(settings))
        assert len(routes) == 11  # the check sees the routes (web/classroom.py's docstring)
        assert ("/lab/assignments/{name}/reveal", "post") in routes
        assert routes <= documented(openapi.document(auth=auth))
        # and the classroom's part documents nothing else
        assert documented({"paths": openapi_classroom.paths()}) == routes


def test_a_missing_route_would_be_seen() -> None:
    """The check can fail: the document without one of the classroom's paths."""
    routes = classroom_routes(create_app(Settings()))
    document = openapi.document()
    del document["paths"]["/lab/findings/mine"]
    assert routes - documented(document) == {("/lab/findings/mine", "get")}


def test_each_classroom_route_says_who_may_call_it() -> None:
    for path, operations in openapi_classroom.paths().items():
        concrete = path.replace("{name}", "ivan")
        for method, operation in operations.items():
            summary = operation["summary"]
            if path_needs(concrete) == TEACHER or (path, method) in TEACHERS_INSIDE:
                assert summary.endswith("Teacher only (QAKIT_AUTH=on)."), (path, method)
            else:
                assert summary.endswith("Any signed-in user (QAKIT_AUTH=off: anyone)."), path
            assert operation["tags"] == ["Classroom"]
            assert "200" in operation["responses"] or "201" in operation["responses"]


def test_the_findings_limits_are_the_code_s() -> None:
    post = openapi_classroom.paths()["/lab/findings"]["post"]
    assert "At most 200 steps, 16 connections, 256 KiB; 5 s of replay" in post["description"]
    assert (
        "5 at once, then one every 5 s per user; 200 findings per trainee" in (post["description"])
    )
    assert "with 4 waiting, or when replays took half of the last 20 s" in post["description"]
    assert "Each reply is kept up to 4 KiB of JSON." in post["description"]
    steps = post["requestBody"]["content"]["application/json"]["schema"]["properties"]["steps"]
    assert steps["maxItems"] == 200
