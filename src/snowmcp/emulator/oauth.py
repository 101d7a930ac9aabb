"""OAuth for custom clients: /oauth/authorize, /oauth/token-request, and token checks.

Follows Snowflake's OAuth endpoints for custom clients (docs/emulator.md, "OAuth"):

- `GET /oauth/authorize` validates the request, then shows a sign-in page that
  stands in for the SSO identity provider (inputs `username`, `password`, plus
  hidden fields carrying the request), POSTed back to the same path. The POST
  validates everything again (hidden fields are client input), checks the
  password and the role, and answers 302 to `redirect_uri?code=...&state=...`.
  Problems with the client id or redirect URI are shown as an error page (never
  redirect to an unverified URI); later problems (scope, role, PKCE) redirect
  with `error=` as RFC 6749 section 4.1.2.1 says.
- `POST /oauth/token-request` with HTTP Basic client authentication.

Token bookkeeping lives in `Account.oauth_state` so `--state` keeps it across
restarts. Only SHA-256 digests of codes and tokens are stored: the state file
never holds a usable credential. Every code and token carries its delegation's
id; a token is valid only while that delegation exists, the integration still
has the client id it was issued for and is enabled, and the user is enabled.

Single-use refresh tokens: every token family (one code exchange and the
refreshes that follow) has a `generation`. A refresh bumps it and issues a new
refresh token; tokens of older generations (refresh AND access) stop working,
as do all tokens of the user's other families for the same integration
(reference: a refresh "invalidates all earlier refresh AND access tokens of
that user"), and presenting an older refresh token revokes the whole family
(reuse detection). Token answers never carry `refresh_token_expires_in`
(clients must compute the expiry from the integration's validity).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import html
import secrets
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from snowmcp.emulator.context import EmulatorContext
from snowmcp.emulator.model import Delegation, OAuthIntegration, User

CODE_VALIDITY_S = 600
MAX_STATE_LENGTH = 2048
ROLE_SCOPE_PREFIX = "session:role:"
# Hidden form fields that carry the authorization request through the sign-in page.
REQUEST_FIELDS = (
    "client_id",
    "response_type",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    return "ver:1-hint:" + secrets.token_urlsafe(48)


class AuthorizeError(Exception):
    """A request problem found by /oauth/authorize."""

    def __init__(self, error: str, description: str, *, redirect: bool) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        # False: shown as a page (client id / redirect URI cannot be trusted).
        self.redirect = redirect


class TokenError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


@dataclass
class AccessGrant:
    """What a valid access token lets its bearer do."""

    user: str  # User.name
    role: str  # effective role for the session
    integration: str
    expires_at: float


@dataclass
class AuthorizeRequest:
    integration: OAuthIntegration
    redirect_uri: str
    state: str | None
    role: str | None  # from session:role:X
    refresh: bool  # refresh_token scope asked
    code_challenge: str | None


class OAuth:
    def __init__(self, ctx: EmulatorContext) -> None:
        self.ctx = ctx
        template = resources.files("snowmcp.emulator").joinpath("signin.html").read_text()
        self._page = Template(template)

    def routes(self) -> list[Route]:
        return [
            Route("/oauth/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/oauth/token-request", self.token_request, methods=["POST"]),
        ]

    # ---- state helpers (call with account.lock held) --------------------------
    @property
    def _state(self) -> dict[str, Any]:
        state = self.ctx.account.oauth_state
        for key in ("codes", "families", "refresh_tokens", "access_tokens"):
            state.setdefault(key, {})
        return state

    def _prune(self, now: float) -> None:
        """Forget expired codes and tokens so the state file does not grow forever."""
        st = self._state
        for key in ("codes", "refresh_tokens", "access_tokens"):
            expired = [k for k, v in st[key].items() if v["expires_at"] < now]
            for k in expired:
                del st[key][k]
        live = {v["family"] for v in st["refresh_tokens"].values()}
        live |= {v["family"] for v in st["access_tokens"].values() if v.get("family")}
        for fam in [f for f in st["families"] if f not in live]:
            del st["families"][fam]

    def _integration_by_client(self, client_id: str) -> OAuthIntegration | None:
        for integ in self.ctx.account.integrations.values():
            if secrets.compare_digest(integ.client_id.encode(), client_id.encode()):
                return integ
        return None

    def _delegation_ok(self, delegation_id: str, integration: str, client_id: str) -> User | None:
        """The user behind a delegation, if it and everything it depends on is still valid."""
        account = self.ctx.account
        deleg = next((d for d in account.delegations if d.id == delegation_id), None)
        if deleg is None or deleg.integration != integration:
            return None
        integ = account.integrations.get(integration)
        if integ is None or not integ.enabled or integ.client_id != client_id:
            return None
        user = account.users.get(deleg.user)
        if user is None or user.disabled:
            return None
        return user

    def _effective_role(self, user: User, scoped: str | None) -> str:
        if scoped:
            return scoped
        if user.default_role and self.ctx.account.user_has_role(user.name, user.default_role):
            return user.default_role
        return "PUBLIC"

    # ---- token validation (used by the wire protocol and MCP) ----------------
    def validate_access_token(self, token: str) -> AccessGrant | str:
        """An AccessGrant, or "invalid" / "expired"."""
        if not token:
            return "invalid"
        with self.ctx.account.lock:
            record = self._state["access_tokens"].get(digest(token))
            if record is None:
                return "invalid"
            if record["expires_at"] < time.time():
                return "expired"
            user = self._delegation_ok(
                record["delegation"], record["integration"], record["client_id"]
            )
            if user is None:
                return "invalid"
            fam = self._state["families"].get(record.get("family") or "")
            if fam is not None and (
                fam["revoked"] or (fam["single_use"] and record["generation"] != fam["generation"])
            ):
                return "invalid"
            return AccessGrant(
                user=user.name,
                role=self._effective_role(user, record.get("role")),
                integration=record["integration"],
                expires_at=record["expires_at"],
            )

    def authenticate_connector(self, token: str) -> tuple[str, str | None] | str:
        """For `authenticator="oauth"` logins: (user name, role) or an error kind."""
        grant = self.validate_access_token(token)
        if isinstance(grant, str):
            return grant
        return grant.user, grant.role

    # ---- /oauth/authorize -----------------------------------------------------
    def _parse_authorize(self, params: dict[str, str]) -> AuthorizeRequest:
        client_id = params.get("client_id", "")
        integ = self._integration_by_client(client_id) if client_id else None
        if integ is None:
            raise AuthorizeError("invalid_client", "Invalid client_id.", redirect=False)
        if not integ.enabled:
            raise AuthorizeError(
                "invalid_client", "The OAuth integration is disabled.", redirect=False
            )
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri != integ.redirect_uri:
            raise AuthorizeError(
                "invalid_request",
                "redirect_uri does not match the integration's OAUTH_REDIRECT_URI.",
                redirect=False,
            )
        if urlsplit(redirect_uri).scheme != "https" and not integ.allow_non_tls_redirect_uri:
            raise AuthorizeError(
                "invalid_request",
                "A non-TLS redirect_uri needs OAUTH_ALLOW_NON_TLS_REDIRECT_URI = TRUE.",
                redirect=False,
            )
        state = params.get("state")
        if state is not None and len(state) > MAX_STATE_LENGTH:
            # Too long to echo back safely: shown, not redirected.
            raise AuthorizeError(
                "invalid_request", f"state exceeds {MAX_STATE_LENGTH} characters.", redirect=False
            )
        if params.get("response_type") != "code":
            raise AuthorizeError(
                "unsupported_response_type", "response_type must be code.", redirect=True
            )
        role: str | None = None
        refresh = False
        for item in params.get("scope", "").split():
            if item == "refresh_token":
                refresh = True
            elif item.startswith(ROLE_SCOPE_PREFIX) and len(item) > len(ROLE_SCOPE_PREFIX):
                if role is not None:
                    raise AuthorizeError(
                        "invalid_scope", "At most one session:role scope is allowed.", redirect=True
                    )
                role = item[len(ROLE_SCOPE_PREFIX) :]
            else:
                raise AuthorizeError("invalid_scope", f"Unsupported scope '{item}'.", redirect=True)
        if role is not None:
            self._check_role_allowed(integ, role)
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or None
        if challenge is None and method is not None:
            raise AuthorizeError(
                "invalid_request", "code_challenge_method without code_challenge.", redirect=True
            )
        if challenge is not None and method != "S256":
            raise AuthorizeError(
                "invalid_request", "code_challenge_method must be S256.", redirect=True
            )
        if challenge is None and integ.enforce_pkce:
            raise AuthorizeError(
                "invalid_request", "This integration requires PKCE (code_challenge).", redirect=True
            )
        return AuthorizeRequest(integ, redirect_uri, state, role, refresh, challenge)

    @staticmethod
    def _check_role_allowed(integ: OAuthIntegration, role: str) -> None:
        if role in integ.effective_blocked_roles():
            raise AuthorizeError(
                "invalid_scope", f"Role '{role}' is blocked by the integration.", redirect=True
            )
        if integ.allowed_roles and role not in integ.allowed_roles:
            raise AuthorizeError(
                "invalid_scope",
                f"Role '{role}' is not in the integration's ALLOWED_ROLES_LIST.",
                redirect=True,
            )

    def _error_redirect(self, req_params: dict[str, str], exc: AuthorizeError) -> Response:
        query = {"error": exc.error, "error_description": exc.description}
        if req_params.get("state"):
            query["state"] = req_params["state"]
        return RedirectResponse(_with_query(req_params["redirect_uri"], query), status_code=302)

    def _render(
        self, req: AuthorizeRequest, params: dict[str, str], *, error: str = "", username: str = ""
    ) -> HTMLResponse:
        hidden = "\n".join(
            f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">'
            for name in REQUEST_FIELDS
            if params.get(name) is not None
        )
        page = self._page.substitute(
            integration=html.escape(req.integration.name),
            account=html.escape(self.ctx.account.name),
            role_text=f" with role <strong>{html.escape(req.role)}</strong>" if req.role else "",
            error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
            hidden=hidden,
            username=html.escape(username),
        )
        return HTMLResponse(page, status_code=200 if not error else 401)

    async def authorize(self, request: Request) -> Response:
        if request.method == "GET":
            params = dict(request.query_params.items())
            form: dict[str, str] = {}
        else:
            raw = await request.form()
            form = {k: v for k, v in raw.items() if isinstance(v, str)}
            params = {k: form[k] for k in REQUEST_FIELDS if k in form}
        with self.ctx.account.lock:
            try:
                req = self._parse_authorize(params)
            except AuthorizeError as exc:
                self.ctx.stats.incr("authorize", exc.error)
                if exc.redirect:
                    return self._error_redirect(params, exc)
                return HTMLResponse(
                    f"<!doctype html><title>Invalid consent request</title><h1>Invalid consent request</h1>"
                    f"<p>{html.escape(exc.error)}: {html.escape(exc.description)}</p>",
                    status_code=400,
                )
            if request.method == "GET":
                self.ctx.stats.incr("authorize", "form")
                return self._render(req, params)
            username = form.get("username", "")
            user = self.ctx.account.user_by_password(username, form.get("password", ""))
            if user is None:
                self.ctx.stats.incr("authorize", "bad_credentials")
                return self._render(
                    req, params, error="Incorrect username or password.", username=username
                )
            if user.disabled:
                self.ctx.stats.incr("authorize", "user_disabled")
                return self._render(req, params, error="User access disabled.", username=username)
            try:
                role = self._role_for(req, user)
            except AuthorizeError as exc:
                self.ctx.stats.incr("authorize", exc.error)
                return self._error_redirect(params, exc)
            code = secrets.token_urlsafe(32)
            now = time.time()
            self._prune(now)
            self._state["codes"][digest(code)] = {
                "user": user.name,
                "integration": req.integration.name,
                "client_id": req.integration.client_id,
                "redirect_uri": req.redirect_uri,
                "role": req.role,
                "effective_role": role,
                "refresh": req.refresh,
                "code_challenge": req.code_challenge,
                "expires_at": now + CODE_VALIDITY_S,
                "used": False,
                "family": None,
            }
        await asyncio.to_thread(self.ctx.save)
        self.ctx.stats.incr("authorize", "ok")
        query = {"code": code}
        if req.state is not None:
            query["state"] = req.state
        return RedirectResponse(_with_query(req.redirect_uri, query), status_code=302)

    def _role_for(self, req: AuthorizeRequest, user: User) -> str:
        """The session role: the scoped one (must be granted) or the default role (must be allowed)."""
        if req.role is not None:
            if not self.ctx.account.user_has_role(user.name, req.role):
                raise AuthorizeError(
                    "invalid_scope",
                    f"Role '{req.role}' is not granted to this user.",
                    redirect=True,
                )
            return req.role
        role = self._effective_role(user, None)
        self._check_role_allowed(req.integration, role)
        return role

    # ---- /oauth/token-request -------------------------------------------------
    async def token_request(self, request: Request) -> Response:
        form = await request.form()
        grant_type = str(form.get("grant_type") or "")
        label = grant_type if grant_type in ("authorization_code", "refresh_token") else "other"
        faults = self.ctx.faults
        if faults.delay_s:
            await asyncio.sleep(faults.delay_s)
        if faults.in_outage() or faults.status is not None:
            self.ctx.stats.incr("token_requests", f"{label}:fault")
            status = 503 if faults.in_outage() else int(faults.status or 503)
            return _oauth_error(status, faults.error or "server_error", "Injected fault.")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            body = await asyncio.to_thread(
                self._token, request.headers.get("authorization", ""), fields
            )
        except TokenError as exc:
            self.ctx.stats.incr("token_requests", f"{label}:{exc.error}")
            return _oauth_error(exc.status, exc.error, exc.message)
        self.ctx.stats.incr("token_requests", f"{label}:ok")
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def _token(self, authorization: str, form: dict[str, str]) -> dict[str, Any]:
        changed = False
        try:
            with self.ctx.account.lock:
                integ = self._client(authorization, form)
                grant_type = form.get("grant_type", "")
                # From here on a failure may still have changed state (a revoked family).
                changed = True
                if grant_type == "authorization_code":
                    return self._exchange_code(integ, form)
                if grant_type == "refresh_token":
                    return self._refresh(integ, form)
                if not grant_type:
                    raise TokenError(400, "invalid_request", "Missing grant_type.")
                raise TokenError(
                    400, "unsupported_grant_type", f"Unsupported grant_type '{grant_type}'."
                )
        finally:
            if changed:
                self.ctx.save()

    def _client(self, authorization: str, form: dict[str, str]) -> OAuthIntegration:
        """HTTP Basic client authentication with either current secret."""
        scheme, _space, encoded = authorization.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            # Public clients identify themselves with client_id alone (and must use PKCE).
            integ = self._integration_by_client(form.get("client_id", ""))
            if integ is not None and integ.client_type == "PUBLIC" and integ.enabled:
                return integ
            raise TokenError(401, "invalid_client", "Client authentication failed.")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise TokenError(401, "invalid_client", "Client authentication failed.") from exc
        client_id, _colon, secret = decoded.partition(":")
        integ = self._integration_by_client(client_id)
        if integ is None or not integ.enabled:
            raise TokenError(401, "invalid_client", "Client authentication failed.")
        good = [s for s in (integ.client_secret, integ.client_secret_2) if s]
        if not any(secrets.compare_digest(s.encode(), secret.encode()) for s in good):
            raise TokenError(401, "invalid_client", "Client authentication failed.")
        return integ

    def _exchange_code(self, integ: OAuthIntegration, form: dict[str, str]) -> dict[str, Any]:
        st = self._state
        now = time.time()
        code = form.get("code", "")
        if not code:
            raise TokenError(400, "invalid_request", "Missing code.")
        record = st["codes"].get(digest(code))
        if record is None or record["expires_at"] < now or record["client_id"] != integ.client_id:
            raise TokenError(
                400, "invalid_grant", "The authorization code is invalid or has expired."
            )
        if record["used"]:
            # A replayed code: revoke what it produced (RFC 6749 section 4.1.2).
            fam = st["families"].get(record.get("family") or "")
            if fam is not None:
                fam["revoked"] = True
            raise TokenError(400, "invalid_grant", "The authorization code has already been used.")
        if form.get("redirect_uri", "") != record["redirect_uri"]:
            raise TokenError(
                400, "invalid_grant", "redirect_uri does not match the authorization request."
            )
        if record["code_challenge"]:
            verifier = form.get("code_verifier", "")
            computed = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if not verifier or not secrets.compare_digest(computed, record["code_challenge"]):
                raise TokenError(
                    400, "invalid_grant", "code_verifier does not match the code_challenge."
                )
        record["used"] = True
        user = self.ctx.account.users.get(record["user"])
        if user is None or user.disabled:
            raise TokenError(400, "invalid_grant", "The user is not allowed to sign in.")
        deleg = self._delegation(user.name, integ.name, record["effective_role"])
        single_use = integ.single_use_refresh_tokens or (
            form.get("enable_single_use_refresh_tokens", "").upper() == "TRUE"
        )
        family = uuid.uuid4().hex
        record["family"] = family
        st["families"][family] = {
            "delegation": deleg.id,
            "single_use": single_use,
            "generation": 0,
            "revoked": False,
        }
        refresh = bool(record["refresh"] and integ.issue_refresh_tokens)
        body = self._issue(integ, deleg.id, family, 0, record["role"], user.name, refresh=refresh)
        body["username"] = user.login_name
        return body

    def _delegation(self, user: str, integration: str, role: str) -> Delegation:
        """One delegation per user and integration; a new consent updates its role."""
        account = self.ctx.account
        for deleg in account.delegations:
            if deleg.user == user and deleg.integration == integration:
                deleg.role = role
                return deleg
        deleg = Delegation(id=uuid.uuid4().hex, user=user, integration=integration, role=role)
        account.delegations.append(deleg)
        return deleg

    def _refresh(self, integ: OAuthIntegration, form: dict[str, str]) -> dict[str, Any]:
        st = self._state
        token = form.get("refresh_token", "")
        if not token:
            raise TokenError(400, "invalid_request", "Missing refresh_token.")
        record = st["refresh_tokens"].get(digest(token))
        invalid = TokenError(400, "invalid_grant", "The refresh token is invalid or has expired.")
        if (
            record is None
            or record["expires_at"] < time.time()
            or record["client_id"] != integ.client_id
        ):
            raise invalid
        fam = st["families"].get(record["family"])
        if fam is None or fam["revoked"]:
            raise invalid
        user = self._delegation_ok(record["delegation"], record["integration"], record["client_id"])
        if user is None:
            raise invalid
        if fam["single_use"]:
            if record["generation"] != fam["generation"]:
                # Reuse of a rotated-out refresh token: treat as theft, revoke the family.
                fam["revoked"] = True
                raise TokenError(400, "invalid_grant", "The refresh token has already been used.")
            fam["generation"] += 1
            # Every earlier token of this user for this integration dies too, also
            # those of other sign-ins (families) under the same delegation.
            for other_id, other in st["families"].items():
                if other_id != record["family"] and other["delegation"] == record["delegation"]:
                    other["revoked"] = True
        # A single-use token is rotated: the response carries its successor.
        return self._issue(
            integ,
            record["delegation"],
            record["family"],
            fam["generation"],
            record["role"],
            user.name,
            refresh=fam["single_use"],
        )

    def _issue(
        self,
        integ: OAuthIntegration,
        deleg: str,
        family: str,
        gen: int,
        role: str | None,
        user: str,
        *,
        refresh: bool,
    ) -> dict[str, Any]:
        """A token response: a new access token and, with `refresh`, a new refresh token,
        each stored (by digest) with what it grants and until when."""
        grants = {
            "delegation": deleg,
            "integration": integ.name,
            "client_id": integ.client_id,
            "family": family,
            "generation": gen,
            "role": role,
            "user": user,
        }
        now = time.time()
        ttl = self.ctx.access_token_ttl or integ.access_token_validity
        access = new_token()
        self._state["access_tokens"][digest(access)] = {**grants, "expires_at": now + ttl}
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": ttl}
        if refresh:
            token = new_token()
            expires_at = now + integ.refresh_token_validity
            self._state["refresh_tokens"][digest(token)] = {**grants, "expires_at": expires_at}
            body["refresh_token"] = token
        return body


def _oauth_error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"data": None, "message": message, "code": None, "success": False, "error": error},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _with_query(uri: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(uri).query else "?"
    return uri + separator + urlencode(params)
