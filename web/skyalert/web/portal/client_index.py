"""The client's own package index: ``/simple/`` serves the ``skyalert-client`` wheel (PEP 503).

A self-hosted broker hands out its client: ``pip install --extra-index-url <portal>/simple
skyalert-client``. Wheels are files in ``<var>/simple/skyalert-client/``; an operator may put
them there at deployment, and a server running from a checkout builds one from ``client/`` on
the first request (pip's own ``pip wheel``, a second or so).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import subprocess
import sys
import tempfile
import threading
from html import escape
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

import skyalert.client
from skyalert.broker.core.settings import Settings
from skyalert.web.state import State

router = APIRouter(prefix="/simple", include_in_schema=False)
log = logging.getLogger(__name__)

#: The distribution's normalized name (PEP 503: lowercase, runs of -_. as one -).
PROJECT = "skyalert-client"
_building = threading.Lock()


def wheel_folder(settings: Settings) -> Path:
    return settings.var_dir.resolve() / "simple" / PROJECT


def client_source() -> Path | None:
    """The ``client/`` folder of a checkout this server runs from (an editable install)."""
    folder = Path(skyalert.client.__file__).resolve().parents[2]
    return folder if (folder / "pyproject.toml").is_file() else None


def wheels(settings: Settings) -> list[Path]:
    """The client wheels on offer, built from the checkout first if there are none."""
    folder = wheel_folder(settings)
    with _building:
        found = sorted(folder.glob("*.whl"))
        source = client_source()
        if not found and source is not None:
            _build(source, folder)
            found = sorted(folder.glob("*.whl"))
    return found


def _build(source: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # Without isolation when the build backend is at hand: no download, about a second.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("hatchling") else []
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation]
    with tempfile.TemporaryDirectory(dir=folder.parent) as staging:
        done = subprocess.run(
            [*pip, str(source), "-w", staging],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            log.error("building the client wheel from %s failed: %s", source, done.stderr)
            return
        for built in Path(staging).glob("*.whl"):
            built.replace(folder / built.name)  # whole files only: replicas may race


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _page(title: str, links: list[tuple[str, str]]) -> HTMLResponse:
    anchors = "\n".join(f'<a href="{escape(href)}">{escape(text)}</a><br>' for href, text in links)
    return HTMLResponse(
        f"<!DOCTYPE html>\n<html><head><title>{escape(title)}</title></head>"
        f"<body>\n{anchors}\n</body></html>\n"
    )


@router.get("/", response_class=HTMLResponse)
async def root() -> HTMLResponse:
    return _page("Simple index", [(f"{PROJECT}/", PROJECT)])


@router.get("/{project}")
async def project_without_slash(project: str) -> RedirectResponse:
    # PEP 503: project URLs end with "/", and a URL without it should redirect there.
    return RedirectResponse(f"/simple/{project}/", status_code=301)


@router.get("/{project}/", response_class=HTMLResponse)
async def project_page(project: str, state: State) -> HTMLResponse:
    if project != PROJECT:
        raise HTTPException(404, f"this index holds only {PROJECT}")
    found = await run_in_threadpool(wheels, state.settings)
    if not found:
        raise HTTPException(
            404,
            f"no {PROJECT} wheel on this server yet: its operator builds one with "
            f"`pip wheel --no-deps ./client -w {wheel_folder(state.settings)}`",
        )
    # PEP 503: each file's link carries its hash as a URL fragment.
    links = [(f"{p.name}#sha256={await run_in_threadpool(_sha256, p)}", p.name) for p in found]
    return _page(f"Links for {PROJECT}", links)


@router.get("/{project}/{filename}")
async def wheel_file(project: str, filename: str, state: State) -> FileResponse:
    path = wheel_folder(state.settings) / filename
    if project != PROJECT or not filename.endswith(".whl") or not path.is_file():
        raise HTTPException(404, f"no such file in the {PROJECT} index")
    return FileResponse(path, media_type="application/octet-stream")
