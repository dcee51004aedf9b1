"""One edge for errors: RFC 9457 problem+json under /api, HTML pages elsewhere."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from skyalert.broker.core.errors import SkyalertError
from skyalert.web.portal.pages import render

PROBLEM = "application/problem+json"


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api/", "/oauth2/", "/.well-known/")) or path in {
        "/healthz",
        "/readyz",
        "/metrics",
    }


def problem(
    request: Request, status: int, detail: str, title: str | None = None, **extra: object
) -> Response:
    title = title or HTTPStatus(status).phrase
    if _wants_json(request):
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
        return JSONResponse(body, status_code=status, media_type=PROBLEM)
    return render(
        request,
        "error.html",
        status_code=status,
        title=title,
        detail=detail,
        response_status=status,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
    response = problem(request, exc.status_code, detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    violations = [
        {"path": "/" + "/".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    return problem(request, 422, "the request is invalid; see violations", violations=violations)


async def _skyalert_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SkyalertError)
    status = exc.http_status  # the caller's mistakes say so; the rest default to 503
    response = problem(
        request, status, str(exc), title="Service unavailable" if status == 503 else None
    )
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="skyalert"'
    return response


#: Seconds a client should wait when the database is out of reach (a restart or failover).
DATABASE_RETRY_AFTER = 5


async def _database_unreachable(request: Request, exc: Exception) -> Response:
    # A lost or refused connection is an outage, not a bug: nothing was stored, try again.
    response = problem(
        request,
        503,
        "the database is out of reach; nothing was stored. Try again in a few seconds.",
        title="Service unavailable",
    )
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SkyalertError, _skyalert_error)
    app.add_exception_handler(OperationalError, _database_unreachable)
    app.add_exception_handler(InterfaceError, _database_unreachable)
