"""The Postman collection (postman/) run with newman, Postman's own command-line runner (from
npm, installed by the suite), against a live stand: every request green, with QAKIT_AUTH off
(the folder "0. Auth" finds no token route and checks only that nothing is refused) and on
(a token with the class code; 401, 403, 429 and 200; the other folders with the token)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from qakit_trio.config import DEFAULT_RATE_LIMIT

from .support import npm
from .support.helpers import running_server
from .support.timeouts import INSTALL_TIMEOUT

pytestmark = pytest.mark.system  # npm installs newman, which runs the collection

POSTMAN = Path(__file__).resolve().parents[1] / "postman"
COLLECTION = POSTMAN / "qakit-trio.postman_collection.json"
ENVIRONMENT = POSTMAN / "qakit-trio.postman_environment.json"


def test_the_collection_and_environment_are_what_trainees_import() -> None:
    collection = json.loads(COLLECTION.read_text())
    assert collection["info"]["schema"].endswith("/collection/v2.1.0/collection.json")
    requests = [item for folder in collection["item"] for item in folder["item"]]
    assert len(requests) >= 15
    tests = [
        line
        for item in requests
        for event in item["event"]
        if event["listen"] == "test"
        for line in event["script"]["exec"]
        if line.startswith("pm.test(")
    ]
    assert len(tests) >= 30
    assert any("jsonSchema" in line for line in tests)  # body shapes, as trainees are taught
    environment = {v["key"]: v["value"] for v in json.loads(ENVIRONMENT.read_text())["values"]}
    assert environment == {
        "baseUrl": "http://localhost:8002",
        "legacyBaseUrl": "http://localhost:8000",
        "classCode": "",  # QAKIT_AUTH=on: the class's; the folder "0. Auth" gets a token
    }
    assert collection["auth"] == {  # every request sends the token (none: the stand ignores it)
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}],
    }
    assert collection["item"][0]["name"] == "0. Auth"


TEACHER = "teacher-token-0123456789"
CODE = "lesson-7"
# QAKIT_AUTH=on with the default rate limit (20/s,40): the folder "0. Auth" gets its 429
AUTH_ON: dict[str, Any] = {
    "auth": True,
    "teacher_token": TEACHER,
    "class_code": CODE,
    "jwt_secret": "postman-test-secret-thirty-two-b",
    "rate_limit": DEFAULT_RATE_LIMIT,
}


@pytest.mark.parametrize("auth", ["off", "on"])
async def test_newman_runs_the_collection_green_against_a_live_stand(
    tmp_path: Path, auth: str
) -> None:
    newman = npm.newman()
    report = tmp_path / "newman.json"
    with trio.fail_after(INSTALL_TIMEOUT):
        async with running_server(**(AUTH_ON if auth == "on" else {})) as server:
            done = await trio.run_process(
                [
                    str(newman),
                    "run",
                    str(COLLECTION),
                    "-e",
                    str(ENVIRONMENT),
                    "--env-var",
                    f"baseUrl={server.http}",
                    "--env-var",
                    f"legacyBaseUrl={server.http}",
                    "--env-var",
                    f"classCode={CODE if auth == 'on' else ''}",
                    "--reporters",
                    "cli,json",
                    "--reporter-json-export",
                    str(report),
                    "--color",
                    "off",
                ],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    output = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, output[-3000:]
    stats = json.loads(report.read_text())["run"]["stats"]
    assert stats["requests"]["failed"] == 0
    assert stats["assertions"]["failed"] == 0
    assert stats["requests"]["total"] >= 15
    assert stats["assertions"]["total"] >= 30
    failures = json.loads(report.read_text())["run"]["failures"]
    assert failures == []
    # which way the folder "0. Auth" went: 401, 403 and 429 checked with auth on only
    checked = {
        assertion["assertion"]
        for execution in json.loads(report.read_text())["run"]["executions"]
        for assertion in execution.get("assertions", [])
    }
    refusals = {"status is 401", "status is 403", "a refused request: status is 429"}
    assert (refusals <= checked) == (auth == "on"), sorted(checked)
