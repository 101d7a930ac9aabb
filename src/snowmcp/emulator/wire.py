"""The connector's wire protocol: login, queries, results, heartbeat, logout, telemetry.

Built against snowflake-connector-python 5.x, whose HTTP layer lives in a Rust
core (`sf_core`) that speaks Snowflake's classic REST/JSON protocol:

- `POST /session/v1/login-request` with `{"data": {LOGIN_NAME, PASSWORD |
  AUTHENTICATOR=OAUTH + TOKEN, SESSION_PARAMETERS, ...}}`; role, warehouse,
  database and schema come as query parameters (`roleName`, `warehouse`, ...).
- Every later request carries `Authorization: Snowflake Token="<session token>"`.
- `POST /queries/v1/query-request` with `{"sqlText", "parameters":
  {"MULTI_STATEMENT_COUNT": n}, ...}`; bodies may be gzip-compressed.
  Results use the JSON result format: `rowtype` describes the columns and
  `rowset` holds every value as a string (or null), the way Snowflake sends it.
- Several statements: the parent response carries `resultIds` (comma
  separated) and the connector fetches each child with
  `GET /queries/<id>/result`.
- `POST /session?delete=true`, `POST /session/heartbeat`,
  `POST /session/token-request` (renew), `POST /telemetry/send`.

Sessions live in memory only: after a restart a connector has to log in again,
exactly as after a session expiry on a real account.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from snowmcp.emulator import signin
from snowmcp.emulator.context import EmulatorContext
from snowmcp.emulator.engine import Column, Engine, Session, StatementResult
from snowmcp.emulator.errors import SnowflakeError

SERVER_VERSION = "9.20.0"
SESSION_VALIDITY_S = 3600
MASTER_VALIDITY_S = 4 * 3600
# Child results of multi-statement requests are kept for the connector to fetch.
MAX_KEPT_RESULTS = 2000
# Statement type ids the connector inspects (DML counts rows, the rest do not).
STATEMENT_TYPE_SELECT = 0x1000
STATEMENT_TYPE_DDL = 0x6000
STATEMENT_TYPE_MULTI = 0xA000

# Login failures, as Snowflake's GS reports them (the connector raises
# DatabaseError/ProgrammingError carrying these numbers).
ERR_BAD_CREDENTIALS = (390100, "08004", "Incorrect username or password was specified.")
ERR_JWT_INVALID = (390144, "08004", "JWT token is invalid.")
ERR_USER_DISABLED = (
    390101,
    "08004",
    "User access disabled. Contact your local system administrator.",
)
ERR_ROLE_NOT_GRANTED = (
    390189,
    "08004",
    "Role '{role}' specified in the connect string is not granted to this user. "
    "Contact your local system administrator, or attempt to login with another role, e.g. PUBLIC.",
)
ERR_OAUTH_ROLE = (
    390186,
    "08004",
    "The role requested in the connection or the default role if none was requested in the "
    "connection ('{role}') is not listed in the Access Token or was filtered. Please specify "
    "another role, or contact your OAuth Authorization server.",
)
ERR_OAUTH_INVALID = (390303, "08004", "Invalid OAuth access token. ")
ERR_OAUTH_EXPIRED = (390318, "08004", "OAuth access token expired. ")
ERR_SESSION_GONE = (
    390111,
    "08001",
    "Session no longer exists.  New login required to access the service.",
)
ERR_SESSION_EXPIRED = (390112, "08001", "Your session has expired. Please login again.")
ERR_STATEMENT_COUNT = (
    8,
    "0A000",
    "Actual statement count {actual} did not match the desired statement count {wanted}.",
)


@dataclass
class WireSession:
    session: Session
    token: str
    master_token: str
    session_id: int
    expires_at: float
    master_expires_at: float


class SessionStore:
    """Connector sessions and kept results, in memory, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_token: dict[str, WireSession] = {}
        self._by_master: dict[str, WireSession] = {}
        self._results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._next_id = int(time.time()) * 1000

    def create(self, session: Session) -> WireSession:
        now = time.monotonic()
        with self._lock:
            self._next_id += 1
            ws = WireSession(
                session=session,
                token="ver:1-hint:" + secrets.token_urlsafe(32),
                master_token="ver:1-hint:" + secrets.token_urlsafe(32),
                session_id=self._next_id,
                expires_at=now + SESSION_VALIDITY_S,
                master_expires_at=now + MASTER_VALIDITY_S,
            )
            self._by_token[ws.token] = ws
            self._by_master[ws.master_token] = ws
            return ws

    def get(self, token: str) -> WireSession | None:
        with self._lock:
            return self._by_token.get(token)

    def renew(self, old_token: str, master_token: str) -> WireSession | None:
        with self._lock:
            ws = self._by_master.get(master_token)
            if ws is None or ws.master_expires_at < time.monotonic():
                return None
            if old_token and old_token != ws.token:
                return None
            self._by_token.pop(ws.token, None)
            ws.token = "ver:1-hint:" + secrets.token_urlsafe(32)
            ws.expires_at = time.monotonic() + SESSION_VALIDITY_S
            self._by_token[ws.token] = ws
            return ws

    def delete(self, token: str) -> bool:
        with self._lock:
            ws = self._by_token.pop(token, None)
            if ws is not None:
                self._by_master.pop(ws.master_token, None)
            return ws is not None

    def keep_result(self, query_id: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._results[query_id] = data
            while len(self._results) > MAX_KEPT_RESULTS:
                self._results.popitem(last=False)

    def result(self, query_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._results.get(query_id)


# ---- response helpers --------------------------------------------------------


def ok(data: Any) -> JSONResponse:
    return JSONResponse({"data": data, "code": None, "message": None, "success": True})


def failure(
    code: int,
    sqlstate: str,
    message: str,
    *,
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Snowflake reports errors in the body of a 200 response; the connector reads `code`."""
    data: dict[str, Any] = {
        "internalError": False,
        "errorCode": f"{code:06d}",
        "age": 0,
        "sqlState": sqlstate,
        "line": -1,
        "pos": -1,
        "type": "COMPILATION" if code < 10000 else "LOGIN",
    }
    data.update(extra or {})
    return JSONResponse(
        {"data": data, "code": f"{code:06d}", "message": message, "success": False},
        status_code=status,
    )


async def read_json(request: Request) -> dict[str, Any]:
    """The connector gzips request bodies: decompress before parsing."""
    raw = await request.body()
    if request.headers.get("content-encoding", "").lower() == "gzip" or raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if not raw:
        return {}
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def session_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    # Snowflake Token="<token>"
    if 'Token="' in header:
        return header.split('Token="', 1)[1].rstrip('"')
    return ""


# ---- result conversion -------------------------------------------------------


def rowtype(column: Column) -> dict[str, Any]:
    """One `rowtype` entry; the connector builds its Arrow schema from these."""
    base: dict[str, Any] = {
        "name": column.name,
        "database": "",
        "schema": "",
        "table": "",
        "nullable": column.nullable,
        "type": column.type,
        "byteLength": None,
        "length": None,
        "scale": None,
        "precision": None,
        "collation": None,
    }
    if column.type == "text":
        base.update(byteLength=16777216, length=16777216)
    elif column.type == "variant":
        base.update(byteLength=16777216)
    elif column.type == "fixed":
        base.update(precision=38, scale=0)
    elif column.type in ("timestamp_ltz", "timestamp_tz", "timestamp_ntz"):
        base.update(precision=0, scale=3)
    return base


def cell(value: object, column_type: str) -> str | None:
    """A Python value as the string Snowflake's JSON result format carries."""
    if value is None:
        return None
    if column_type == "boolean":
        return "1" if bool(value) else "0"
    if column_type in ("timestamp_ltz", "timestamp_tz", "timestamp_ntz"):
        if isinstance(value, datetime):
            # seconds since the epoch with the rowtype's scale (3 digits)
            millis = round(value.timestamp() * 1000)
            text = f"{millis // 1000}.{millis % 1000:03d}"
            if column_type == "timestamp_tz":
                # TIMESTAMP_TZ appends the offset in minutes + 1440
                offset = value.utcoffset()
                minutes = int(offset.total_seconds() // 60) if offset is not None else 0
                text += f" {minutes + 1440}"
            return text
        return str(value)
    if column_type == "fixed":
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int | Decimal):
            return str(value)
        return str(value)
    if column_type == "variant" and not isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def statement_type_id(result: StatementResult) -> int:
    if result.kind in ("SELECT",) or result.kind.startswith(("SHOW", "DESCRIBE")):
        return STATEMENT_TYPE_SELECT
    return STATEMENT_TYPE_DDL


def result_data(result: StatementResult, session: Session, query_id: str) -> dict[str, Any]:
    types = [c.type for c in result.columns]
    rowset = [[cell(v, t) for v, t in zip(row, types, strict=True)] for row in result.rows]
    return {
        **final_names(session),
        "parameters": SESSION_PARAMETERS,
        "rowtype": [rowtype(c) for c in result.columns],
        "rowset": rowset,
        "total": len(rowset),
        "returned": len(rowset),
        "queryId": query_id,
        "databaseProvider": None,
        "numberOfBinds": 0,
        "arrayBindSupported": False,
        "statementTypeId": statement_type_id(result),
        "version": 1,
        "sendResultTime": int(time.time() * 1000),
        "queryResultFormat": "json",
    }


def final_names(session: Session) -> dict[str, Any]:
    return {
        "finalDatabaseName": session.database,
        "finalSchemaName": session.schema,
        "finalWarehouseName": session.warehouse,
        "finalRoleName": session.role,
    }


# Parameters a real account returns at login; the connector reads a few of them.
SESSION_PARAMETERS: list[dict[str, Any]] = [
    {"name": "TIMEZONE", "value": "UTC"},
    {"name": "TIMESTAMP_OUTPUT_FORMAT", "value": "YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM"},
    {"name": "TIMESTAMP_LTZ_OUTPUT_FORMAT", "value": ""},
    {"name": "CLIENT_SESSION_KEEP_ALIVE", "value": False},
    {"name": "CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY", "value": 3600},
    {"name": "AUTOCOMMIT", "value": True},
    {"name": "CLIENT_RESULT_CHUNK_SIZE", "value": 160},
    {"name": "QUERY_RESULT_FORMAT", "value": "JSON"},
]


# ---- endpoints ---------------------------------------------------------------


class WireProtocol:
    """Starlette endpoints for the connector; holds the sessions."""

    def __init__(self, ctx: EmulatorContext, engine: Engine, authenticate_oauth: Any) -> None:
        self.ctx = ctx
        self.engine = engine
        # Callable (access_token) -> (user_name, role) | str error kind ("invalid" / "expired").
        self.authenticate_oauth = authenticate_oauth
        self.sessions = SessionStore()

    def routes(self) -> list[Route]:
        return [
            Route("/session/v1/login-request", self.login, methods=["POST"]),
            Route("/queries/v1/query-request", self.query, methods=["POST"]),
            Route("/queries/{query_id}/result", self.query_result, methods=["GET", "POST"]),
            Route("/monitoring/queries/{query_id}", self.query_status, methods=["GET"]),
            Route("/queries/v1/abort-request", self.abort, methods=["POST"]),
            Route("/session", self.session_endpoint, methods=["POST", "DELETE"]),
            Route("/session/heartbeat", self.heartbeat, methods=["POST", "GET"]),
            Route("/session/token-request", self.token_renew, methods=["POST"]),
            Route("/telemetry/send", self.telemetry, methods=["POST"]),
            Route("/session/authenticator-request", self.authenticator_request, methods=["POST"]),
        ]

    # -- login --
    async def login(self, request: Request) -> Response:
        body = await read_json(request)
        data = body.get("data") or {}
        q = request.query_params
        authenticator = str(data.get("AUTHENTICATOR") or "SNOWFLAKE").upper()
        account = self.ctx.account
        with account.lock:
            if authenticator == "OAUTH":
                outcome = self.authenticate_oauth(str(data.get("TOKEN") or ""))
                if isinstance(outcome, str):
                    self.ctx.stats.incr("logins", f"oauth_{outcome}")
                    err = ERR_OAUTH_EXPIRED if outcome == "expired" else ERR_OAUTH_INVALID
                    return failure(*err)
                user_name, token_role = outcome
                user = account.users.get(user_name)
                asked = q.get("roleName")
                if asked and token_role and _identifier(asked) != token_role:
                    # The session role comes from the token; another one is refused.
                    self.ctx.stats.incr("logins", "oauth_role_mismatch")
                    code, state, text = ERR_OAUTH_ROLE
                    return failure(code, state, text.format(role=_identifier(asked)))
                requested_role = token_role
            elif authenticator == "SNOWFLAKE_JWT":
                user = signin.user_by_jwt(
                    account, str(data.get("LOGIN_NAME") or ""), str(data.get("TOKEN") or "")
                )
                if user is None:
                    self.ctx.stats.incr("logins", "jwt_invalid")
                    return failure(*ERR_JWT_INVALID)
                requested_role = q.get("roleName") or None
            elif authenticator in ("SNOWFLAKE", "PROGRAMMATIC_ACCESS_TOKEN"):
                # A programmatic access token works in place of the password, or as TOKEN
                # with its own authenticator.
                login = str(data.get("LOGIN_NAME") or "")
                secret = str(
                    data.get("PASSWORD" if authenticator == "SNOWFLAKE" else "TOKEN") or ""
                )
                user = (
                    None
                    if authenticator != "SNOWFLAKE"
                    else account.user_by_password(login, secret)
                )
                requested_role = q.get("roleName") or None
                if user is None:
                    pat = signin.token_by_secret(account, login, secret)
                    user = account.users.get(pat.user) if pat is not None else None
                    if pat is not None and pat.role_restriction is not None:
                        # The token's role restriction is the session's role.
                        if requested_role and _identifier(requested_role) != pat.role_restriction:
                            self.ctx.stats.incr("logins", "role_not_granted")
                            code, state, text = ERR_ROLE_NOT_GRANTED
                            return failure(code, state, text.format(role=requested_role))
                        requested_role = pat.role_restriction
                if user is None:
                    self.ctx.stats.incr("logins", "bad_credentials")
                    return failure(*ERR_BAD_CREDENTIALS)
            else:
                self.ctx.stats.incr("logins", "unsupported_authenticator")
                return failure(
                    390195,
                    "08004",
                    f"Authenticator '{authenticator}' is not supported by this emulator.",
                )
            if user is None:
                return failure(*ERR_OAUTH_INVALID)
            if user.disabled:
                self.ctx.stats.incr("logins", "user_disabled")
                return failure(*ERR_USER_DISABLED)
            if authenticator == "OAUTH":
                # The token's scope decides the role; it must still be granted.
                granted = requested_role and account.user_has_role(user.name, requested_role)
                role = requested_role if granted else None
            else:
                role = self._resolve_role(user.name, requested_role, user.default_role)
            if role is None:
                self.ctx.stats.incr("logins", "role_not_granted")
                code, state, text = ERR_ROLE_NOT_GRANTED
                return failure(code, state, text.format(role=requested_role))
            session = Session(
                user=user.name,
                role=role,
                warehouse=_known(q.get("warehouse") or user.default_warehouse, account.warehouses),
                database=_known(q.get("databaseName"), account.databases),
            )
            if session.database and q.get("schemaName"):
                db = account.databases[session.database]
                session.schema = _known(q.get("schemaName"), db.schemas)
            display = user.name
        ws = self.sessions.create(session)
        self.ctx.stats.incr("logins", "ok")
        return ok(
            {
                "masterToken": ws.master_token,
                "token": ws.token,
                "validityInSeconds": SESSION_VALIDITY_S,
                "masterValidityInSeconds": MASTER_VALIDITY_S,
                "displayUserName": display,
                "serverVersion": SERVER_VERSION,
                "firstLogin": False,
                "remMeToken": None,
                "remMeValidityInSeconds": 0,
                "healthCheckInterval": 45,
                "newClientForUpgrade": None,
                "sessionId": ws.session_id,
                "parameters": SESSION_PARAMETERS,
                "sessionInfo": {
                    "databaseName": session.database,
                    "schemaName": session.schema,
                    "warehouseName": session.warehouse,
                    "roleName": session.role,
                },
                "idToken": None,
                "idTokenValidityInSeconds": 0,
                "responseData": None,
                "mfaToken": None,
                "mfaTokenValidityInSeconds": 0,
            }
        )

    def _resolve_role(
        self, user_name: str, requested: str | None, default: str | None
    ) -> str | None:
        """Requested role (must be granted) > default role (if still granted) > PUBLIC.

        Returns None when an explicitly requested role is not granted, as
        Snowflake refuses such a login. The connector sends role names as the
        user typed them; like Snowflake, an unquoted name is upper-cased.
        """
        account = self.ctx.account
        if requested:
            name = _identifier(requested)
            return name if account.user_has_role(user_name, name) else None
        if default and account.user_has_role(user_name, default):
            return default
        return "PUBLIC"

    def _session_for(self, request: Request) -> WireSession | JSONResponse:
        token = session_token(request)
        ws = self.sessions.get(token) if token else None
        if ws is None:
            return failure(*ERR_SESSION_GONE)
        if ws.expires_at < time.monotonic():
            return failure(*ERR_SESSION_EXPIRED)
        return ws

    # -- queries --
    async def query(self, request: Request) -> Response:
        self.ctx.stats.incr("query_requests", "total")
        if self.ctx.latency_ms:
            await asyncio.sleep(self.ctx.latency_ms / 1000)
        ws = self._session_for(request)
        if isinstance(ws, JSONResponse):
            return ws
        body = await read_json(request)
        sql = str(body.get("sqlText") or "")
        params = body.get("parameters") or {}
        wanted = params.get("MULTI_STATEMENT_COUNT", 1)
        # The engine holds the account lock and may write the state file: run it
        # off the event loop so other requests (and heartbeats) keep flowing.
        return await asyncio.to_thread(self._run, ws, sql, wanted)

    def _run(self, ws: WireSession, sql: str, wanted: Any) -> Response:
        parent_id = str(uuid.uuid4())
        try:
            wanted_n = int(wanted)
        except (TypeError, ValueError):
            wanted_n = 1
        try:
            actual = self.engine.count_statements(sql)
            if wanted_n != 0 and actual != wanted_n:
                code, state, text = ERR_STATEMENT_COUNT
                return failure(
                    code,
                    state,
                    text.format(actual=actual, wanted=wanted_n),
                    extra={"queryId": parent_id},
                )
            results = self.engine.execute(ws.session, sql)
        except SnowflakeError as exc:
            return failure(exc.code, exc.sqlstate, exc.message, extra={"queryId": parent_id})
        if wanted_n == 1 or (wanted_n == 0 and len(results) == 1 and actual == 1):
            return ok(result_data(results[0], ws.session, parent_id))
        child_ids = []
        for res in results:
            child_id = str(uuid.uuid4())
            self.sessions.keep_result(child_id, result_data(res, ws.session, child_id))
            child_ids.append(child_id)
        return ok(
            {
                **final_names(ws.session),
                "parameters": SESSION_PARAMETERS,
                "rowtype": [rowtype(Column("multiple statement execution", "text", False))],
                "rowset": [["Multiple statements executed successfully."]],
                "total": 1,
                "returned": 1,
                "queryId": parent_id,
                "resultIds": ",".join(child_ids),
                "resultTypes": ",".join(str(STATEMENT_TYPE_SELECT) for _child in child_ids),
                "numberOfBinds": 0,
                "arrayBindSupported": False,
                "statementTypeId": STATEMENT_TYPE_MULTI,
                "version": 1,
                "sendResultTime": int(time.time() * 1000),
                "queryResultFormat": "json",
            }
        )

    async def query_result(self, request: Request) -> Response:
        ws = self._session_for(request)
        if isinstance(ws, JSONResponse):
            return ws
        data = self.sessions.result(request.path_params["query_id"])
        if data is None:
            return failure(709, "02000", f"Statement {request.path_params['query_id']} not found")
        return ok(data)

    async def query_status(self, request: Request) -> Response:
        ws = self._session_for(request)
        if isinstance(ws, JSONResponse):
            return ws
        qid = request.path_params["query_id"]
        status = "SUCCESS" if self.sessions.result(qid) is not None else "NO_DATA"
        return ok({"queries": [{"id": qid, "status": status, "state": status}]})

    async def abort(self, request: Request) -> Response:
        return ok(None)

    # -- session management --
    async def session_endpoint(self, request: Request) -> Response:
        if request.method == "DELETE" or request.query_params.get("delete") == "true":
            self.sessions.delete(session_token(request))
            return ok(None)
        return failure(390111, "08001", "Unsupported session operation.")

    async def heartbeat(self, request: Request) -> Response:
        ws = self._session_for(request)
        if isinstance(ws, JSONResponse):
            return ws
        return ok(None)

    async def token_renew(self, request: Request) -> Response:
        body = await read_json(request)
        old = str(body.get("oldSessionToken") or "")
        master = session_token(request)  # renew requests carry the master token
        ws = self.sessions.renew(old, master)
        if ws is None:
            return failure(
                390114,
                "08001",
                "Authentication token has expired.  The user must authenticate again.",
            )
        return ok(
            {
                "sessionToken": ws.token,
                "validityInSecondsST": SESSION_VALIDITY_S,
                "masterToken": ws.master_token,
                "validityInSecondsMT": MASTER_VALIDITY_S,
                "sessionId": ws.session_id,
            }
        )

    async def telemetry(self, request: Request) -> Response:
        await request.body()  # accepted and ignored
        return ok(None)

    async def authenticator_request(self, request: Request) -> Response:
        return failure(
            390195, "08004", "Federated authentication is not emulated; use OAUTH or a password."
        )


def _identifier(text: str) -> str:
    """A role/warehouse name as sent by the connector: quoted keeps case, else upper-case."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text.upper()


def _known(name: str | None, existing: dict[str, Any]) -> str | None:
    """Snowflake accepts unknown warehouse/database names at login and just leaves them unset."""
    if not name:
        return None
    ident = _identifier(name)
    return ident if ident in existing else None
