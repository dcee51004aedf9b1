"""The source layout: PEP 420 portions under fixed top-level folders, nothing generic installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {
    "pyproject.toml",
    "README.md",
    "broker",
    "auth",
    "web",
    "schemas",
    "client",
    "tests",
    "ops",
}
PORTIONS = {
    "broker": "skyalert.broker",
    "auth": "skyalert.auth",
    "web": "skyalert.web",
    "schemas": "skyalert.schemas",
    "client": "skyalert.client",
}


def test_fixed_top_level_exists() -> None:
    missing = {name for name in TOP_LEVEL if not (ROOT / name).exists()}
    assert not missing


@pytest.mark.parametrize("folder", sorted(PORTIONS))
def test_no_skyalert_init_anywhere(folder: str) -> None:
    # A stray skyalert/__init__.py would silently hide every other portion.
    assert not (ROOT / folder / "skyalert" / "__init__.py").exists()


@pytest.mark.parametrize(("folder", "package"), sorted(PORTIONS.items()))
def test_portion_imports_from_the_checkout(folder: str, package: str) -> None:
    spec = importlib.util.find_spec(package)
    assert spec is not None
    assert spec.origin is not None
    assert Path(spec.origin).resolve().is_relative_to(ROOT / folder / "skyalert")


@pytest.mark.parametrize("generic", ["broker", "auth", "web", "schemas", "client"])
def test_nothing_generic_in_site_packages(generic: str) -> None:
    for entry in sys.path:
        if "site-packages" in entry:
            assert not (Path(entry) / generic).exists(), f"{generic} installed into {entry}"


@pytest.mark.slow
def test_server_wheel_holds_only_skyalert(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("skyalert-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    code = [n for n in names if ".dist-info/" not in n]
    assert code
    assert all(n.startswith("skyalert/") for n in code)
    assert "skyalert/__init__.py" not in names
    assert not any(n.startswith("skyalert/client/") for n in names)
    for package in ("broker", "auth", "web", "schemas"):
        assert f"skyalert/{package}/__init__.py" in names
    assert "skyalert/schemas/catalog.json" in names
    assert "skyalert/broker/core/migrations/env.py" in names
    assert any(n.startswith("skyalert/web/templates/") for n in names)


#: The modules allowed directly in a portion's flat folder; everything else lives in a room.
TOP_MODULES = {
    "broker/skyalert/broker": {"__init__.py"},
    "web/skyalert/web": {"__init__.py", "app.py", "state.py", "errors.py"},
}


@pytest.mark.parametrize("folder", sorted(TOP_MODULES))
def test_no_module_outside_a_room(folder: str) -> None:
    modules = {p.name for p in (ROOT / folder).glob("*.py")}
    assert modules <= TOP_MODULES[folder]


@pytest.mark.parametrize("folder", ["broker/skyalert/broker", "web/skyalert/web"])
def test_every_room_says_what_belongs_there(folder: str) -> None:
    for init in (ROOT / folder).glob("*/__init__.py"):
        text = init.read_text("utf-8")
        assert text.startswith('"""'), f"{init} opens without a docstring"
        assert len(text.strip()) > 20, f"{init}'s docstring says nothing"
