"""The OpenAPI document (`workbench.api.openapi`): a valid OpenAPI 3.1 document of every endpoint, the README's
table current, and the live server's answers matching the response schemas the endpoints declare."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import store_samples
from openapi_spec_validator import validate
from servers import free_port, make_account, make_token, start_server, stop_server

from workbench import settings
from workbench.api import core, openapi
from workbench.store import Store


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = openapi.document()
    validate(doc)  # raises on any error
    assert doc["openapi"] == "3.1.0"


def test_every_endpoint_is_in_the_document_once() -> None:
    doc = openapi.document()
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    registered = [(ep.path, ep.method) for ep in core.ENDPOINTS]
    assert len(registered) == len(set(registered)), "an endpoint is registered twice"
    assert documented == set(registered)
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_path_parameters_are_declared_and_errors_use_the_error_schema() -> None:
    doc = openapi.document()
    for path, item in doc["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, f"{method.upper()} {path}: path parameters {declared} != {names}"
            assert op["responses"]["401"] == {"$ref": "#/components/responses/E401"}
    error = doc["components"]["responses"]["E404"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    jsonschema.validate({"error": "not_found", "detail": "x"}, doc["components"]["schemas"]["Error"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"message": "x"}, doc["components"]["schemas"]["Error"])


def test_the_validator_catches_a_broken_document() -> None:
    doc = openapi.document()
    doc["paths"]["/health"]["get"]["responses"] = "not a mapping"
    with pytest.raises(Exception):  # noqa: B017 - the validator's own error classes vary by version
        validate(doc)


def test_the_readme_table_is_current() -> None:
    readme = (settings.CHECKOUT / "README.md").read_text(encoding="utf-8")
    start, end = openapi.MARKERS
    assert start in readme and end in readme, f"README.md needs the API table between {start} and {end}"
    section = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert section == openapi.markdown(), "README's API table is stale: run `python -m workbench.api.openapi`"


def test_update_readme_rewrites_only_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    start, end = openapi.MARKERS
    readme.write_text(f"before\n{start}\nOLD-TABLE\n{end}\nafter\n", encoding="utf-8")
    assert openapi.update_readme(readme)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("before\n") and text.endswith("after\n")
    assert "| GET | `/health` |" in text and "OLD-TABLE" not in text
    assert not openapi.update_readme(readme)  # current now


# --- live answers against the declared schemas --------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], dict[str, Any]]]:
    data = tmp_path_factory.mktemp("openapi")
    db = data / "workbench.duckdb"
    with Store(db) as store:
        make_account(store, "ada", "admin")
        hid = store_samples.hearing(store)
        case_id = store.hearing(hid).case_id
    secret = make_token(db, "ada", "doc")
    port = free_port()
    proc = start_server(data, port)
    try:
        yield (
            f"http://127.0.0.1:{port}/api/v1",
            {"Authorization": f"Bearer {secret}"},
            {
                "hearing_id": hid,
                "case": case_id,
                "label": "S1",
                "name": "doc",
            },
        )
    finally:
        stop_server(proc)


QUERY = {"q": "开庭"}  # required query parameters, where an endpoint has one


def test_the_served_document_is_the_same_and_valid(live: tuple[str, dict[str, str], dict[str, Any]]) -> None:
    base, auth, _ = live
    r = requests.get(base + "/openapi.json", headers=auth)
    assert r.status_code == 200
    validate(r.json())
    assert set(r.json()["paths"]) == set(openapi.document()["paths"])
    assert requests.get(base + "/openapi.json").status_code == 401


def test_live_answers_match_their_response_schemas(live: tuple[str, dict[str, str], dict[str, Any]]) -> None:
    base, auth, values = live
    segments = requests.get(base + f"/hearings/{values['hearing_id']}/segments", headers=auth)
    if segments.status_code == 200 and segments.json()["items"]:
        values = {**values, "segment_id": segments.json()["items"][0]["id"]}
    doc = openapi.document()
    checked = []
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is None:
            continue
        schema = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None or "contentMediaType" in schema:  # none, or a file (an export as .json)
            continue
        names = re.findall(r"\{(\w+)\}", path)
        if any(n not in values for n in names):
            continue
        required = [p["name"] for p in op.get("parameters", []) if p["in"] == "query" and p["required"]]
        if any(n not in QUERY for n in required):
            continue
        url = base + re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)
        r = requests.get(url, headers=auth, params={n: QUERY[n] for n in required})
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:300]}"
        assert r.headers["content-type"].startswith("application/json"), f"GET {path}: {r.headers['content-type']}"
        try:
            jsonschema.validate(r.json(), schema, cls=jsonschema.Draft202012Validator)
        except jsonschema.ValidationError as e:
            raise AssertionError(f"GET {path}: the answer does not match its schema: {e.message}") from None
        checked.append(path)
    print("checked against their schemas:", checked)
    assert {"/health", "/models", "/openapi.json"} <= set(checked), checked
