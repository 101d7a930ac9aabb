"""A stand-in for the Kubernetes API server, as far as OpenBao's `kubernetes` auth method uses it.

THIS IS A MOCK, and the only one in the Kubernetes-auth tests (tests/service/test_vault_kubernetes.py):
there is no cluster here. Everything else in those tests is real: OpenBao's own `kubernetes` auth
method validates the JWT (signature against `pem_keys`, `iss`, the role's bound service account and
namespace) and then calls this stand-in's TokenReview endpoint the way it calls a real API server.

What it imitates, after the real API server (authentication.k8s.io/v1 TokenReview, and the
service-account token authenticator behind it):

- it issues service-account JWTs shaped like projected tokens (RS256, `kid`; claims `iss`, `sub`
  `system:serviceaccount:<ns>:<name>`, `aud`, `exp`/`iat`/`nbf`, `jti`, and `kubernetes.io` with the
  namespace, the pod and the service account, each with its uid), signed with a key whose public
  half (`public_pem`) is what an operator gives OpenBao as `pem_keys`;
- `POST /apis/authentication.k8s.io/v1/tokenreviews` answers 201 with a TokenReview whose status is
  `authenticated: true` and `user.username` `system:serviceaccount:<ns>:<name>` plus the service
  account's `uid` for a token it issued that is still valid (signature, issuer, not expired, its
  pod and service account still exist, an audience in common), and `authenticated` false with an
  `error` for any other token;
- it serves HTTPS with a serving certificate for 127.0.0.1 signed by its own cluster CA (`ca_pem`,
  OpenBao's `kubernetes_ca_cert`), as an API server reached from outside the cluster does;
- the caller itself must authenticate with a bearer token of a service account allowed to create
  TokenReviews (the `system:auth-delegator` ClusterRoleBinding): 401 or 403 with a `Status` otherwise.

`reviews` records each review (the token's `jti` and the answer, never the token) so a test can tell
whether OpenBao asked, and about which token.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from harness.procs import free_port

ISSUER = "https://kubernetes.default.svc.cluster.local"  # a kube-apiserver's usual --service-account-issuer
REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (for tests that look at what they were given)."""
    return dict(json.loads(_unb64(token.split(".")[1])))


@dataclass
class Review:
    jti: str  # "" when the token was not a JWT of ours
    authenticated: bool
    username: str
    error: str


@dataclass
class KubeAPI:
    """The TokenReview stand-in on a free loopback port (HTTPS), served from a thread; `workdir`
    holds its serving certificate and key (test material)."""

    workdir: Path
    issuer: str = ISSUER
    port: int = 0
    reviews: list[Review] = field(default_factory=list)
    _key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    _accounts: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, name) -> uid
    _pods: dict[str, str] = field(default_factory=dict)  # "<ns>/<pod>" -> uid
    _expired: set[str] = field(default_factory=set)  # jti of tokens made to expire early
    _reviewers: set[tuple[str, str]] = field(default_factory=set)  # accounts bound to system:auth-delegator
    ca_pem: str = ""  # the cluster CA's certificate, set by start()
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def public_pem(self) -> str:
        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()  # fmt: skip

    @property
    def kid(self) -> str:
        der = self._key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return _b64(hashlib.sha256(der).digest())  # what kube-apiserver derives its key id from

    # -- the cluster's objects ------------------------------------------------------
    def service_account(self, namespace: str, name: str, *, reviewer: bool = False) -> str:
        """Create the service account if needed; its uid. `reviewer`: may create TokenReviews."""
        with self._lock:
            uid = self._accounts.setdefault((namespace, name), str(uuid.uuid4()))
            if reviewer:
                self._reviewers.add((namespace, name))
        return uid

    def delete_pod(self, namespace: str, pod: str) -> None:
        """Tokens bound to a pod stop authenticating when the pod is deleted."""
        with self._lock:
            self._pods.pop(f"{namespace}/{pod}", None)

    def expire(self, token: str) -> None:
        """Make a token expire now (as the kubelet's replaced ones do at their `exp`)."""
        with self._lock:
            self._expired.add(str(claims_of(token)["jti"]))

    def issue(self, namespace: str, name: str, *, pod: str = "", ttl: int = 3600,
              audiences: tuple[str, ...] = (), key: rsa.RSAPrivateKey | None = None) -> str:  # fmt: skip
        """A projected service-account token for the account (created if needed), bound to `pod`
        (created if needed). `key`: sign with another key (a forged token)."""
        sa_uid = self.service_account(namespace, name)
        pod = pod or f"{name}-{uuid.uuid4().hex[:10]}"
        with self._lock:
            pod_uid = self._pods.setdefault(f"{namespace}/{pod}", str(uuid.uuid4()))
        now = int(time.time())
        claims = {"aud": list(audiences or (self.issuer,)), "exp": now + ttl, "iat": now, "nbf": now,
                  "iss": self.issuer, "jti": str(uuid.uuid4()), "sub": f"system:serviceaccount:{namespace}:{name}",
                  "kubernetes.io": {"namespace": namespace, "pod": {"name": pod, "uid": pod_uid},
                                    "serviceaccount": {"name": name, "uid": sa_uid}, "warnafter": now + ttl * 4 // 5}}  # fmt: skip
        header = {"alg": "RS256", "kid": self.kid}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = (key or self._key).sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    # -- authentication, as the API server's service-account authenticator does it ----
    def authenticate(self, token: str, audiences: list[str] | None = None) -> tuple[dict[str, Any] | None, list[str], str]:
        """(the user, the audiences it is valid for, an error): the user is None when not authenticated."""
        try:
            head, body, sig = token.split(".")
            self._key.public_key().verify(_unb64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(_unb64(body))
        except (ValueError, InvalidSignature):
            return None, [], "invalid bearer token"
        k8s = claims.get("kubernetes.io") or {}
        namespace, account, pod = k8s.get("namespace", ""), k8s.get("serviceaccount") or {}, k8s.get("pod") or {}
        now = time.time()
        wanted = audiences or [self.issuer]
        common = [aud for aud in claims.get("aud", []) if aud in wanted]
        with self._lock:
            if claims.get("iss") != self.issuer:
                return None, [], "invalid bearer token, token issuer is not recognised"
            if claims.get("exp", 0) <= now or claims.get("jti") in self._expired:
                return None, [], "invalid bearer token, service account token has expired"
            if self._accounts.get((namespace, account.get("name", ""))) != account.get("uid"):
                return None, [], f"invalid bearer token, service account {namespace}/{account.get('name')} not found"
            if self._pods.get(f"{namespace}/{pod.get('name', '')}") != pod.get("uid"):
                return None, [], f"invalid bearer token, pod {namespace}/{pod.get('name')} not found"
        if not common:
            return None, [], "invalid bearer token, token audiences are not valid for the target audiences"
        user = {"username": f"system:serviceaccount:{namespace}:{account['name']}", "uid": account["uid"],
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
                "extra": {"authentication.kubernetes.io/pod-name": [pod["name"]],
                          "authentication.kubernetes.io/pod-uid": [pod["uid"]],
                          "authentication.kubernetes.io/credential-id": [f"JTI={claims['jti']}"]}}  # fmt: skip
        return user, common, ""

    def token_review(self, bearer: str, review: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        caller, _aud, _err = self.authenticate(bearer)
        if caller is None:
            return 401, _status(401, "Unauthorized", "Unauthorized")
        _, ns, name = caller["username"].rsplit(":", 2)
        with self._lock:
            allowed = (ns, name) in self._reviewers
        if not allowed:
            return 403, _status(403, "Forbidden", f'tokenreviews.authentication.k8s.io is forbidden: User "{caller["username"]}" '
                                                  'cannot create resource "tokenreviews" in API group "authentication.k8s.io" '
                                                  "at the cluster scope")  # fmt: skip
        spec = review.get("spec") or {}
        token = str(spec.get("token") or "")
        user, audiences, error = self.authenticate(token, list(spec.get("audiences") or []))
        try:
            jti = str(claims_of(token).get("jti", ""))
        except (ValueError, IndexError):
            jti = ""
        status: dict[str, Any] = {"user": {}}
        if user is not None:
            status = {"authenticated": True, "user": user, "audiences": audiences}
        else:
            status["error"] = f"[{error}]"
        with self._lock:
            self.reviews.append(Review(jti, user is not None, user["username"] if user else "", error))
        answer = {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": None},
                  "spec": {"audiences": spec.get("audiences")} if spec.get("audiences") else {}, "status": status}  # fmt: skip
        return 201, answer

    # -- the HTTP server ---------------------------------------------------------------
    def start(self) -> KubeAPI:
        self.port = self.port or free_port()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.split("?")[0] != REVIEW_PATH:
                    self._send(404, _status(404, "NotFound", "the server could not find the requested resource"))
                    return
                auth = self.headers.get("Authorization") or ""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, _status(400, "BadRequest", "the body is not JSON"))
                    return
                self._send(*api.token_review(auth.removeprefix("Bearer ").strip(), body))

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: requests carry tokens in their bodies only, but nothing is logged at all

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.socket = self._tls().wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="kubeapi", daemon=True).start()
        return self

    def _tls(self) -> ssl.SSLContext:
        """A cluster CA and the API server's serving certificate for 127.0.0.1, signed by it."""
        now = datetime.datetime.now(datetime.UTC)
        ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(ca_key, hashes.SHA256()))  # fmt: skip
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .sign(ca_key, hashes.SHA256()))  # fmt: skip
        self.workdir.mkdir(parents=True, exist_ok=True)
        cert_file, key_file = self.workdir / "apiserver.crt", self.workdir / "apiserver.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.touch(mode=0o600)
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))  # fmt: skip
        self.ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip
