"""The committed OpenAPI document follows the hub's rules: a readable operationId on every
operation, and every refusal documented as the one problem+json shape the hub really sends.
(That the document matches the app is test_openapi_drift; that the live hub answers as the
document says is tests/e2e/test_schemathesis.py.)"""

from __future__ import annotations

import json
import re

import pytest
from pydantic import TypeAdapter

from hub.domain.commands import Command
from hub.domain.model import CaseDraft
from hub.settings import REPO_ROOT

SPEC = json.loads((REPO_ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
OPERATIONS = [(method.upper(), path, op) for path, ops in SPEC["paths"].items() for method, op in ops.items()]

# The naming rule (README, API): lowerCamelCase, a verb from this list first, then what it acts on.
VERBS = (
    "list",
    "get",
    "register",
    "act",
    "answer",
    "suggest",
    "create",
    "edit",
    "review",
    "search",
    "import",
    "set",
    "delete",
    "confirm",
    "dismiss",
    "retry",
    "pause",
    "resume",
    "replay",
    "skip",
    "push",
    "export",
    "check",
    "rate",  # rate: a citizen's evaluation of the reply (channels/)
    "reissue",
)  # reissue: a new retrieval code sent by SMS (channels/)
OPERATION_ID = re.compile(rf"^({'|'.join(VERBS)})([A-Z][a-z0-9]+)*$")
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_the_spec_has_operations() -> None:
    assert len(OPERATIONS) >= 45  # the count when this test was written; routes only get added


@pytest.mark.parametrize("method, path, op", OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_operation_id_follows_the_naming_rule(method: str, path: str, op: dict) -> None:
    assert OPERATION_ID.match(op.get("operationId", "")), f"{method} {path}: operationId {op.get('operationId')!r}"


def test_operation_ids_are_unique_and_the_main_ones_are_as_documented() -> None:
    ids = [op["operationId"] for _, _, op in OPERATIONS]
    assert len(ids) == len(set(ids))
    by_route = {(m, p): op["operationId"] for m, p, op in OPERATIONS}
    assert by_route[("POST", "/api/v1/cases")] == "registerCase"
    assert by_route[("GET", "/api/v1/cases")] == "listCases"
    assert by_route[("POST", "/api/v1/cases/{number}/actions")] == "actOnCase"
    assert by_route[("GET", "/api/v1/cases/{number}")] == "getCase"


# Open311 GeoReport v2 (channels/open311.py) refuses in GeoReport's own error list, which its
# clients read: [{"code": 400, "description": "..."}] in JSON, <errors><error> in XML.
GEOREPORT = "/open311/"
HUB_OPERATIONS = [o for o in OPERATIONS if not o[1].startswith(GEOREPORT)]
GEOREPORT_OPERATIONS = [o for o in OPERATIONS if o[1].startswith(GEOREPORT)]


@pytest.mark.parametrize("method, path, op", GEOREPORT_OPERATIONS, ids=[f"{m} {p}" for m, p, _ in GEOREPORT_OPERATIONS])
def test_georeport_refusals_are_documented_as_its_error_list(method: str, path: str, op: dict) -> None:
    responses = op["responses"]
    assert "400" in responses and "422" not in responses, "a bad or unknown parameter is GeoReport's 400"
    assert "503" in responses and responses["503"]["content"] == PROBLEM  # before the route: the hub's own
    for status, response in responses.items():
        if status.startswith("4"):
            assert response["description"]
            content = response["content"]
            assert content["application/json"]["schema"]["items"] == {"$ref": "#/components/schemas/GeoReportError"}, status
            assert "text/xml" in content, status
            if status == "413":  # a body over the limit is refused before the route, as problem+json
                assert content["application/problem+json"] == PROBLEM["application/problem+json"]


def test_there_are_georeport_operations() -> None:
    assert len(GEOREPORT_OPERATIONS) == 7  # discovery, services, service, requests (POST, GET), request, token


@pytest.mark.parametrize("method, path, op", HUB_OPERATIONS, ids=[f"{m} {p}" for m, p, _ in HUB_OPERATIONS])
def test_every_refusal_is_documented_as_problem_json(method: str, path: str, op: dict) -> None:
    responses = op["responses"]
    assert "422" in responses, "every operation refuses unknown query parameters with 422"
    if op.get("security"):
        assert "401" in responses
    if "requestBody" in op:
        assert "413" in responses
    if "{" in path and op.get("security") and path != "/api/v1/codes/{kind}":
        assert "404" in responses or "403" in responses, "an object named in the path may be missing or not yours"
    for status, response in responses.items():
        if status.startswith("4"):
            assert response["content"] == PROBLEM, f"{status} of {method} {path}"
            assert response["description"]


def test_one_problem_schema_and_no_default_validation_shape() -> None:
    schemas = SPEC["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = schemas["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}
    assert set(schemas["FieldError"]["required"]) == {"field", "reason"}


def _request_examples(path: str, method: str) -> dict:
    return SPEC["paths"][path][method]["requestBody"]["content"]["application/json"]["examples"]


def test_main_routes_carry_chinese_examples_that_the_hub_accepts() -> None:
    drafts = _request_examples("/api/v1/cases", "post")
    assert len(drafts) >= 2
    for example in drafts.values():
        assert re.search(r"[\u4e00-\u9fff]", example["summary"] + example["value"]["title"])
        CaseDraft.model_validate(example["value"])
    actions = _request_examples("/api/v1/cases/{number}/actions", "post")
    assert {"accept", "dispatch", "reply"} <= set(actions)
    for example in actions.values():
        TypeAdapter(Command).validate_python(example["value"])
    listed = SPEC["paths"]["/api/v1/cases"]["get"]["responses"]["200"]["content"]["application/json"]["example"]
    assert listed["items"][0]["title"] == "小区噪音扰民"
    assert _request_examples("/api/v1/knowledge/articles", "post")["guide"]["value"]["title"] == "消费者投诉举报办理指南"


def test_list_cases_documents_the_channel_and_phone_filters() -> None:
    params = {p["name"]: p for p in SPEC["paths"]["/api/v1/cases"]["get"]["parameters"]}
    assert {"channel", "phone", "state", "unit", "division", "q", "cursor", "limit"} <= set(params)
    assert "confidential" in params["phone"]["description"]
