"""`onefold serve`: the ASGI app (on uvicorn) over one workspace.

FastAPI for the OpenAPI schema and typed query parameters of the Profile API; in front of it
the tracking paths are a plain ASGI app (`tracking_api.TrackingApi`) that reads the raw body
itself (JSON whatever the Content-Type, gzip or not) and answers through orjson. CORS is open
to any origin: analytics.js runs on the customer's own sites, and a write key is public by
design (it only appends events).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from onefold import __version__
from onefold.collect.messages import RequestError
from onefold.errors import NotFoundError, OnefoldError, WorkspaceError
from onefold.server import profile_api, tracking_api
from onefold.server.forward import ServerInfo, announce, run_forwarded, withdraw
from onefold.server.responses import error_response, json_response
from onefold.server.runtime import RESOLVE_EVERY_SECONDS, Runtime
from onefold.server.tracking_api import TrackingApi

log = logging.getLogger("onefold.server")


def create_app(
    root: Path,
    *,
    realtime: bool = True,
    info: ServerInfo | None = None,
    resolve_every: float = RESOLVE_EVERY_SECONDS,
) -> TrackingApi:
    """The app for the workspace at `root`; the runtime starts and stops with it.

    `info` is the announced server (its admin token lets the CLI forward commands)."""
    runtime = Runtime(root, realtime=realtime, resolve_every=resolve_every)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        if info is not None:
            announce(runtime.ws.root, info)  # the CLI forwards its commands from now on
        try:
            yield
        finally:
            if info is not None:
                withdraw(runtime.ws.root, info)
            runtime.stop()

    app = FastAPI(
        title="onefold",
        version=__version__,
        summary="Segment-compatible collection API and the Profile API of one workspace",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their JS from a CDN: nothing may at run time
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
        max_age=86400,
    )

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(OnefoldError)
    async def onefold_error(request: Request, exc: OnefoldError) -> Response:
        return error_response(400, "error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_params(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return error_response(400, "invalid_parameters", problems)

    app.include_router(profile_api.router(runtime))

    @app.get("/health", tags=["server"], summary="Liveness and real-time resolution progress")
    async def health() -> Response:
        status = runtime.resolver.status
        return json_response(
            {
                "status": "ok",
                "commits": runtime.committer.commits,
                "messages_committed": runtime.committer.messages,
                "loads": runtime.committer.loader.loads,
                "messages_loaded": runtime.committer.loader.messages,
                "load_backlog": runtime.committer.loader.backlog,
                "load_error": runtime.committer.loader.last_error,
                "frames_set_aside": runtime.committer.loader.set_aside,
                "keys_age_s": round(runtime.keys.age, 1),
                "checkpoints": runtime.committer.loader.folds,
                "resolver": status.__dict__,
            }
        )

    @app.post("/admin/cli", include_in_schema=False)
    async def admin_cli(request: Request) -> Response:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        if info is None or not hmac.compare_digest(presented.encode(), info.token.encode()):
            return error_response(401, "unauthorized", "not the server's admin token")
        body: dict[str, Any] = await request.json()
        argv = [str(a) for a in body.get("argv", [])]
        if argv[:1] == ["serve"]:
            return error_response(409, "running", f"a server already runs at {info.url}")

        def run() -> tuple[int, str]:
            try:
                with runtime.exclusive() as ws:
                    width, color = int(body.get("width", 100)), bool(body.get("color"))
                    done = run_forwarded(ws, argv, width, color)
            except WorkspaceError as exc:
                return 1, f"error: {exc}\n"
            runtime.keys.reload()  # a key created or revoked here counts from the next request
            return done

        code, output = await run_in_threadpool(run)
        return json_response({"exit_code": code, "output": output})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema["paths"] = {**tracking_api.openapi_paths(), **schema["paths"]}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return TrackingApi(runtime, app)
