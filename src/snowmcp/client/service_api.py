"""Calls to the token service: a small JSON-over-HTTP helper on `http.client` (standard library, fast to import).

Every call has a hard timeout so `snowmcp headers` answers well inside Claude
Code's 10 s limit even when the service hangs.
"""

from __future__ import annotations

import http.client  # imports ssl itself, so https costs the cold start nothing extra
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

from snowmcp.client.errors import EXIT_REAUTH, EXIT_UNAVAILABLE, ClientError


class ServiceError(ClientError):
    def __init__(self, status: int, code: str, message: str, exit_code: int) -> None:
        super().__init__(message, exit_code)
        self.status = status
        self.code = code


def request(
    method: str,
    url: str,
    *,
    api_key: str | None = None,
    body: dict[str, Any] | None = None,
    timeout: float = 5.0,
) -> dict[str, Any]:
    parts = urlsplit(url)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = {"Accept": "application/json", "User-Agent": "snowmcp-client"}
    payload = None
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    base = f"{parts.scheme}://{parts.netloc}"
    try:
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    except TimeoutError:
        raise ClientError(f"token service {base} did not answer within {timeout:g}s", EXIT_UNAVAILABLE) from None
    except OSError as exc:
        raise ClientError(f"cannot reach token service {base}: {exc.strerror or exc}", EXIT_UNAVAILABLE) from None
    finally:
        conn.close()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if resp.status >= 400:
        code = str(data.get("error") or f"http_{resp.status}")
        message = str(data.get("message") or resp.reason)
        if resp.status == 409 or code == "reauth_required":
            hint = "your Snowflake sign-in has expired or was revoked: run `snowmcp login`"
            raise ServiceError(resp.status, code, f"{message} ({hint})", EXIT_REAUTH)
        if resp.status == 401:
            raise ServiceError(resp.status, code, f"{message} (run `snowmcp login`)", EXIT_REAUTH)
        exit_code = EXIT_UNAVAILABLE if resp.status >= 500 else 1
        raise ServiceError(resp.status, code, f"token service: {message} [{code}]", exit_code)
    return data
