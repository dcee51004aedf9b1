"""``/api/v1/asyncapi.json``: the AsyncAPI project's own parser accepts it; every topic is in it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator

from conftest import ROOT
from skyalert.schemas.catalog import load_catalog
from support.gcn_examples import guano_document

PARSER = ROOT / "ops" / "asyncapi"
FILES = ("package.json", "package-lock.json", "validate.mjs")


@pytest.fixture(scope="session")
def asyncapi_parser() -> Path:
    """``@asyncapi/parser`` from npm, as ops/asyncapi/package-lock.json pins it (``npm ci``
    checks every package's integrity hash), installed once into the var folder."""
    lock = hashlib.sha256((PARSER / "package-lock.json").read_bytes()).hexdigest()[:16]
    target = ROOT / "var" / "asyncapi" / lock
    if not (target / ".complete").exists():
        target.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copy(PARSER / name, target / name)
        subprocess.run(
            ["npm", "ci", "--silent", "--no-audit", "--no-fund"],
            cwd=target,
            check=True,
            timeout=600,
        )
        (target / ".complete").touch()
    return target


@pytest.fixture(scope="module")
def document(app_url: str) -> dict[str, Any]:
    answer = httpx.get(f"{app_url}/api/v1/asyncapi.json", timeout=30)
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def test_the_asyncapi_parser_accepts_it_and_finds_every_topic(
    document: dict[str, Any], asyncapi_parser: Path, tmp_path: Path
) -> None:
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document))
    ran = subprocess.run(
        ["node", str(asyncapi_parser / "validate.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(ran.stdout.splitlines()[-1])
    assert result["errors"] == []
    topics = {t.name for t in load_catalog().topics}
    assert set(result["channels"]) == topics | {"/api/v1/stream"}


def test_a_broken_document_is_refused_by_the_parser(
    document: dict[str, Any], asyncapi_parser: Path, tmp_path: Path
) -> None:
    broken = {**document, "channels": {"x": {"address": 5}}}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    ran = subprocess.run(
        ["node", str(asyncapi_parser / "validate.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(ran.stdout.splitlines()[-1])["errors"]


def test_security_servers_and_yaml(app_url: str, document: dict[str, Any]) -> None:
    discovery = httpx.get(f"{app_url}/.well-known/skyalert", timeout=10).json()
    flows = document["components"]["securitySchemes"]["oauth"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == discovery["token_endpoint"]
    assert "read:public" in flows["clientCredentials"]["availableScopes"]
    kafka = document["servers"]["kafka"]
    assert kafka["host"] == discovery["kafka"]["bootstrap_servers"].split(",")[0]
    assert document["servers"]["live-feed"]["pathname"] == "/api/v1/stream"
    as_yaml = httpx.get(f"{app_url}/api/v1/asyncapi.yaml", timeout=30)
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.text) == document


def test_a_bundled_payload_schema_still_judges_real_notices(document: dict[str, Any]) -> None:
    """Every $ref was pointed into the document; the schema says what NASA's says."""
    guano = document["components"]["messages"]["gcn.notices.swift.bat.guano"]
    validator = Draft202012Validator({**guano["payload"], "components": document["components"]})
    assert list(validator.iter_errors(guano_document())) == []
    assert list(validator.iter_errors(guano_document(dec="south")))
    bindings = document["channels"]["gcn.notices.swift.bat.guano"]["bindings"]["kafka"]
    assert bindings["topic"] == "gcn.notices.swift.bat.guano"
