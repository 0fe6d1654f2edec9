"""The Profile API: one person's profile, timeline and evidence, by any identifier they hold.

Read keys only (a write key embedded in a web page must not read profiles back). Handlers
are plain functions: FastAPI runs them on its worker threads, each reading through its own
connection, so a lookup never waits behind a commit or a resolve.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from onefold.clean.identifiers import normalise_identifier
from onefold.collect.messages import RequestError
from onefold.explain import explain_profile
from onefold.lookup import (
    TimelineFilter,
    follow_merges,
    identifier_candidates,
    profile_document,
    profile_history,
    profiles_with,
    timeline,
)
from onefold.server.auth import require_key
from onefold.server.responses import json_response
from onefold.server.runtime import Runtime
from onefold.workspace import Workspace

_TYPED = re.compile(r"^([a-z_]+):(.+)$", re.DOTALL)
MAX_PAGE = 1000

REF_DOC = (
    "`TYPE:VALUE` — `email:ann@example.com`, `phone:+14155550100`, `user_id:u-42`, any "
    "identifier type of onefold.yml, normalised as the pipeline normalises it — or a profile id"
)


def _profile_id(ws: Workspace, ref: str) -> str:
    """The one profile `ref` names; 404 if none, 300 if the value is shared by several."""
    ws.require_resolved()
    m = _TYPED.match(ref)
    id_types: dict[str, str] = dict(ws.config.identity.id_types)
    if m and m.group(1) in id_types:
        values = [v for t, v in identifier_candidates(ref, id_types) if t == m.group(1)]
        if not values:
            why = normalise_identifier(m.group(2), id_types[m.group(1)]).reason
            raise RequestError(
                400,
                "invalid_identifier",
                f"{ref!r} is not a usable {m.group(1)}" + (f": {why}" if why else ""),
            )
        found = profiles_with(ws.engine, m.group(1), values)
        if not found:
            raise RequestError(404, "not_found", f"no profile holds {m.group(1)} {values[0]!r}")
        if len(found) > 1:
            raise _Ambiguous(m.group(1), values[0], found)
        return found[0]
    if m:
        raise RequestError(
            400,
            "unknown_identifier_type",
            f"{m.group(1)!r} is not an identifier type; known: {', '.join(sorted(id_types))}",
        )
    current = follow_merges(ws.engine, ref)
    if current is None:
        raise RequestError(404, "not_found", f"no profile {ref!r}")
    return current


class _Ambiguous(RequestError):
    def __init__(self, id_type: str, value: str, profiles: list[str]) -> None:
        super().__init__(
            300,
            "multiple_profiles",
            f"{id_type} {value!r} is held by {len(profiles)} profiles (a shared value): "
            "ask for one by its profile id",
        )
        self.profiles = profiles

    def response(self) -> Response:
        """300 with the candidate profiles to choose from."""
        body = {"code": self.code, "message": self.message, "profiles": self.profiles}
        return json_response(body, self.status)


def profile_answer(ws: Workspace, ref: str) -> Response:
    """`GET /v1/profiles/{ref}`: the profile's document, read with one index probe (its
    timeline, history and evidence are sub-resources, linked)."""
    try:
        pid = _profile_id(ws, ref)
    except _Ambiguous as exc:
        return exc.response()
    doc = profile_document(ws.engine, pid)
    if doc is None:  # merged away between finding it and reading it: follow the merge
        pid = follow_merges(ws.engine, pid) or pid
        doc = profile_document(ws.engine, pid)
    if doc is None:
        raise RequestError(404, "not_found", f"no profile {pid!r}")
    base = f"/v1/profiles/{pid}"
    links = {"events": f"{base}/events", "history": f"{base}/history", "explain": f"{base}/explain"}
    return json_response({"profile_id": pid, "requested": ref, **doc, "links": links})


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/v1/profiles", tags=["profiles"])

    def reader(request: Request) -> Workspace:
        require_key(runtime.keys, request.headers.get("authorization"), "read")
        return runtime.reader()

    def lookup(request: Request, ref: str) -> tuple[Workspace, str] | Response:
        ws = reader(request)
        try:
            return ws, _profile_id(ws, ref)
        except _Ambiguous as exc:
            return exc.response()

    @api.get("/{ref:path}/events", summary="A profile's cross-channel timeline, paginated")
    def events(
        request: Request,
        ref: str,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
        channel: str | None = None,
        type: Annotated[list[str] | None, Query(description="event types (repeat)")] = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Response:
        found = lookup(request, ref)
        if isinstance(found, Response):
            return found
        ws, pid = found
        only = TimelineFilter(channel, tuple(type or ()), since, until)
        rows = timeline(ws.engine, pid, limit + 1, offset, only)
        body: dict[str, Any] = {"profile_id": pid, "events": rows[:limit], "next": None}
        if len(rows) > limit:
            query = dict(request.query_params)
            query["offset"] = str(offset + limit)
            body["next"] = str(request.url.replace_query_params(**query))
        return json_response(body)

    @api.get("/{ref:path}/explain", summary="The evidence that holds a profile together")
    def explain(request: Request, ref: str) -> Response:
        found = lookup(request, ref)
        if isinstance(found, Response):
            return found
        ws, pid = found
        return json_response(explain_profile(ws, pid))

    @api.get("/{ref:path}/history", summary="The merges and splits a profile took part in")
    def history(request: Request, ref: str) -> Response:
        found = lookup(request, ref)
        if isinstance(found, Response):
            return found
        ws, pid = found
        return json_response({"profile_id": pid, "history": profile_history(ws.engine, pid)})

    @api.get("/{ref:path}", summary="Golden record, traits, identifiers and consents")
    def profile(request: Request, ref: str) -> Response:
        return profile_answer(reader(request), ref)

    return api
