#!/usr/bin/python
# Copyright: snowmcp maintainers
# Apache-2.0
"""Ansible module: the token service's secrets, Transit key, policy and auth role in Vault / OpenBao."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: token_service_vault
short_description: Keep the snowmcp token service's secrets, Transit key, policy and auth role in Vault
version_added: "0.2.0"
description:
  - The Vault mode of the token_service role. Writes to HashiCorp Vault (or OpenBao, same API) what the
    service reads from it, so that no secret and no key sits on the service's hosts.
  - The service's KV v2 secret at O(kv_mount)/O(kv_path) (C(client_id), C(client_secret), C(client_secret_next),
    C(admin_keys) as C(sha256:) digests, C(allowed_users) when given); the Transit key O(transit_key)
    (C(aes256-gcm96)) that encrypts the service's stored tokens; the least-privilege policy O(policy_name)
    (read that one secret, encrypt/decrypt/datakey/rewrap with that one key, nothing else); the service's
    auth role (AppRole or Kubernetes) carrying that policy.
  - The controller's own state, a second KV v2 secret at O(kv_mount)/O(controller_kv_path) that the service's
    policy cannot read, holds the admin keys (the service gets only their digests), the OAuth client secret
    slot in use and every rotation in progress, recorded step by step like M(snowmcp.core.token_service_secrets)
    does in its file, so an interrupted rotation resumes on the next run.
  - Everything is read and compared first and written only when it differs, so a second run changes nothing.
    Mounts that are missing (the KV v2 and Transit engines, the AppRole or Kubernetes auth method) are enabled.
  - Supports check mode (plans, writes nothing, issues nothing) and diff mode (secrets shown as C(********)).
extends_documentation_fragment:
  - snowmcp.core.vault
options:
  action:
    description:
      - V(ensure) converges everything and creates missing admin keys.
      - V(client_secret_begin), V(client_secret_refreshed), V(client_secret_commit), V(admin_key_begin),
        V(admin_key_finish) record the steps of those rotations as M(snowmcp.core.token_service_secrets) does.
      - V(encryption_key_begin) rotates the Transit key once (a re-run resumes, it does not rotate again) and
        records the new version; V(encryption_key_finish) raises the key's C(min_decryption_version) to that
        version (run it after C(snowmcp-service vault rewrap)), so older versions no longer decrypt.
    type: str
    default: ensure
    choices: [ensure, client_secret_begin, client_secret_refreshed, client_secret_commit,
              encryption_key_begin, encryption_key_finish, admin_key_begin, admin_key_finish]
  kv_mount:
    description: Mount of the KV version 2 engine.
    type: str
    default: secret
  kv_path:
    description: Path of the service's secret inside O(kv_mount).
    type: str
    default: snowmcp/token-service
  controller_kv_path:
    description: Path of the controller's state inside O(kv_mount); default O(kv_path) with C(-controller) appended.
    type: str
    default: ""
  transit_mount:
    description: Mount of the Transit engine.
    type: str
    default: transit
  transit_key:
    description: Name of the Transit key (type C(aes256-gcm96), created when missing).
    type: str
    default: snowmcp-token-service
  policy_name:
    description: Name of the service's ACL policy.
    type: str
    default: snowmcp-token-service
  auth:
    description:
      - How the service logs in. V(approle) and V(kubernetes) get a role carrying O(policy_name);
        V(token_file) (a Vault Agent writes the token) gets none here, the agent's own auth role must carry the policy.
    type: str
    default: approle
    choices: [approle, kubernetes, token_file]
  approle_mount:
    description: Mount of the AppRole auth method.
    type: str
    default: approle
  approle_role:
    description: Name of the service's AppRole role.
    type: str
    default: snowmcp-token-service
  secret_id_ttl:
    description: Seconds a secret id stays valid (0 = until revoked); the service logs in again with it.
    type: int
    default: 0
  token_ttl:
    description: Seconds the service's tokens live before it renews them or logs in again.
    type: int
    default: 3600
  issue_secret_id:
    description:
      - Return a secret id for the service's host in RV(secret_id). A new one is issued only when O(secret_id)
        is empty or no longer valid, so a re-run with the host's current one issues none.
    type: bool
    default: false
  secret_id:
    description: The secret id the service's host holds now (checked, never returned or logged).
    type: str
    default: ""
  host_secret_ids:
    description:
      - One secret id per service host, for deployments of several hosts. Keys are the hosts' names, values the
        secret id each holds now (empty when none); checked, never returned or logged. With O(issue_secret_id),
        a host whose secret id is missing, no longer valid or issued for another host gets a new one in
        RV(secret_ids), tagged in Vault with the metadata C(snowmcp_host=<name>) so an operator sees which host
        holds which, and one host can be cut off without the others.
      - Other secret ids tagged for a host of this run are destroyed (one it lost, such as a tmpfs file gone with
        a reboot), and so are those tagged for a host that is neither a key here nor in O(keep_hosts), so a host
        removed from the inventory loses its access at the next run.
    type: dict
  keep_hosts:
    description:
      - With O(host_secret_ids), hosts not in this run whose secret ids stay as they are (the rest of the
        inventory group when the play is limited with C(--limit)).
    type: list
    elements: str
    default: []
  kubernetes_mount:
    description: Mount of the Kubernetes auth method.
    type: str
    default: kubernetes
  kubernetes_role:
    description: Name of the service's Kubernetes auth role.
    type: str
    default: snowmcp-token-service
  kubernetes_service_account:
    description: Service account the role is bound to.
    type: str
    default: snowmcp-token-service
  kubernetes_namespace:
    description: Namespace of that service account.
    type: str
    default: snowmcp
  client_id:
    description: The OAuth client id (from Snowflake).
    type: str
    required: true
  client_secret:
    description: The OAuth client secret of slot 1 (C(OAUTH_CLIENT_SECRET)). Never logged.
    type: str
    required: true
  client_secret_2:
    description: The OAuth client secret of slot 2 (C(OAUTH_CLIENT_SECRET_2)). Never logged.
    type: str
    required: true
  allowed_users:
    description: Logins for the secret's C(allowed_users) field; omitted, the field is not written.
    type: list
    elements: str
  inventory_admin_keys:
    description: Admin keys from the inventory (at least 32 characters); then none is generated or rotated here.
    type: list
    elements: str
    default: []
  issue_token:
    description:
      - Return in RV(token) a short-lived token carrying only O(policy_name) (what the service may do), for a
        one-off command such as C(snowmcp-service vault rewrap) run outside the service. Revoke it afterwards
        with O(revoke_accessor).
    type: bool
    default: false
  issued_token_ttl:
    description: Seconds the token of O(issue_token) lives.
    type: int
    default: 900
  revoke_accessor:
    description: Accessor of a token to revoke (a token of O(issue_token) after its use).
    type: str
    default: ""
notes:
  - RV(secrets), RV(secret_id), RV(secret_ids) and RV(token) hold secrets, so register the result only in a task
    with C(no_log=true).
  - The secret id and the issued token are created in a run that is not in check mode only.
author:
  - snowmcp maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Keep the service's secrets, Transit key, policy and AppRole role in Vault
  snowmcp.core.token_service_vault:
    url: https://vault.example.com:8200
    token: "{{ vault_admin_token }}"
    client_id: "{{ oauth.client_id }}"
    client_secret: "{{ oauth.client_secret }}"
    client_secret_2: "{{ oauth.client_secret_2 }}"
    issue_secret_id: true
    secret_id: "{{ current_secret_id | default('') }}"
  register: vault_state
  no_log: true

- name: Rotate the Transit key (then run `snowmcp-service vault rewrap`, then encryption_key_finish)
  snowmcp.core.token_service_vault:
    url: https://vault.example.com:8200
    action: encryption_key_begin
    client_id: "{{ oauth.client_id }}"
    client_secret: "{{ oauth.client_secret }}"
    client_secret_2: "{{ oauth.client_secret_2 }}"
  register: vault_state
  no_log: true
"""

RETURN = r"""
rotation_state:
  description: The progress, without any secret (as M(snowmcp.core.token_service_secrets) returns it).
  returned: always
  type: dict
  sample: {client_secret_slot: 1, client_secret_current_slot: 1, client_secret_rotation: null,
           encryption_rotation: null, encryption_key_count: 0, admin_rotation: null, admin_key_count: 1,
           encryption_keys_from_inventory: false, admin_keys_from_inventory: false}
secrets:
  description: The admin keys (empty when the inventory supplies them) and their C(sha256:) digests.
  returned: always
  type: dict
  sample: {admin_keys: ["..."], admin_key_hashes: ["sha256:9f86d0..."]}
transit:
  description: The Transit key's versions after the run.
  returned: always
  type: dict
  sample: {latest_version: 2, min_decryption_version: 1}
role_id:
  description: The AppRole role id (not a secret by itself); empty for other auth methods.
  returned: always
  type: str
secret_id:
  description: A newly issued secret id, or empty when the host's one is still valid (or none was asked for).
  returned: always
  type: str
secret_ids:
  description: With O(host_secret_ids), the newly issued secret id of each host that needed one (others absent).
  returned: always
  type: dict
  sample: {svc-2.example.com: "..."}
token:
  description: The short-lived token of O(issue_token), or empty.
  returned: always
  type: str
token_accessor:
  description: Its accessor (to revoke it with O(revoke_accessor)), or empty.
  returned: always
  type: str
requests:
  description: The Vault writes made (or, in check mode, planned), as C(<method> <path>) without any value.
  returned: always
  type: list
  elements: str
  sample: ["PUT secret/data/snowmcp/token-service", "PUT sys/policies/acl/snowmcp-token-service"]
"""

import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.snowmcp.core.plugins.module_utils.token_service_state import (
    ACTIONS,
    MASK,
    StoreError,
    admin_key_hashes,
    current_slot,
    masked,
    plan,
    rotation_state,
)
from ansible_collections.snowmcp.core.plugins.module_utils.vault_client import (
    vault_argument_spec,
    vault_client,
    vault_errors,
)

SERVICE_SECRET_FIELDS = ("client_secret", "client_secret_next")


def policy_text(p: dict[str, Any]) -> str:
    """The least-privilege policy: the service reads its one secret and uses its one key, nothing else."""
    transit = f'{p["transit_mount"]}/%s/{p["transit_key"]}'
    lines = [f'path "{p["kv_mount"]}/data/{p["kv_path"]}" {{ capabilities = ["read"] }}']
    lines += [f'path "{transit % op}" {{ capabilities = ["update"] }}' for op in
              ("encrypt", "decrypt", "datakey/wrapped", "rewrap")]
    return "# Written by the snowmcp.core token_service role.\n" + "\n".join(lines) + "\n"


class Vault:
    """The reads and writes of one run; writes are skipped (but listed) in check mode."""

    def __init__(self, module: AnsibleModule, client: Any) -> None:
        self.module = module
        self.client = client
        self.requests: list[str] = []

    def write(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        self.requests.append(what)
        if self.module.check_mode:
            return None
        return call(*args, **kwargs)

    def read_kv(self, mount: str, path: str) -> dict[str, Any] | None:
        import hvac.exceptions

        try:
            got = self.client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount,
                                                                raise_on_deleted_version=True)
        except hvac.exceptions.InvalidPath:
            return None
        return dict(got["data"]["data"] or {})

    def ensure_kv(self, mount: str, path: str, data: dict[str, Any]) -> bool:
        if self.read_kv(mount, path) == data:
            return False
        self.write(f"PUT {mount}/data/{path}", self.client.secrets.kv.v2.create_or_update_secret,
                   path=path, secret=data, mount_point=mount)
        return True

    def ensure_mounts(self, p: dict[str, Any]) -> None:
        engines = self.client.sys.list_mounted_secrets_engines()["data"]
        kv = engines.get(p["kv_mount"] + "/")
        if kv is None:
            self.write(f"POST sys/mounts/{p['kv_mount']}", self.client.sys.enable_secrets_engine, "kv",
                       path=p["kv_mount"], options={"version": "2"})
        elif kv.get("type") != "kv" or str((kv.get("options") or {}).get("version")) != "2":
            raise StoreError(f"the mount {p['kv_mount']!r} is not a KV version 2 engine")
        transit = engines.get(p["transit_mount"] + "/")
        if transit is None:
            self.write(f"POST sys/mounts/{p['transit_mount']}", self.client.sys.enable_secrets_engine, "transit",
                       path=p["transit_mount"])
        elif transit.get("type") != "transit":
            raise StoreError(f"the mount {p['transit_mount']!r} is not a Transit engine")
        if p["auth"] in ("approle", "kubernetes"):
            mount = p[p["auth"] + "_mount"]
            methods = self.client.sys.list_auth_methods()["data"]
            if mount + "/" not in methods:
                self.write(f"POST sys/auth/{mount}", self.client.sys.enable_auth_method, p["auth"], path=mount)
            elif methods[mount + "/"].get("type") != p["auth"]:
                raise StoreError(f"the auth mount {mount!r} is not the {p['auth']} method")

    def transit_key(self, p: dict[str, Any]) -> dict[str, Any] | None:
        import hvac.exceptions

        try:
            return dict(self.client.secrets.transit.read_key(name=p["transit_key"], mount_point=p["transit_mount"])["data"])
        except hvac.exceptions.InvalidPath:
            return None


def versions(key: dict[str, Any] | None) -> dict[str, int]:
    if key is None:
        return {"latest_version": 0, "min_decryption_version": 0}
    return {"latest_version": int(key["latest_version"]), "min_decryption_version": int(key["min_decryption_version"])}


def ensure_transit(v: Vault, p: dict[str, Any], state: dict[str, Any], action: str) -> dict[str, int]:
    """Create the key; for a rotation: rotate once (recorded in `state`), later raise min_decryption_version."""
    mount, name = p["transit_mount"], p["transit_key"]
    key = v.transit_key(p)
    if key is None:
        v.write(f"POST {mount}/keys/{name}", v.client.secrets.transit.create_key, name=name,
                key_type="aes256-gcm96", mount_point=mount)
        key = v.transit_key(p) if not v.module.check_mode else {"latest_version": 1, "min_decryption_version": 1}
    elif key.get("type") != "aes256-gcm96":
        raise StoreError(f"the Transit key {name!r} has type {key.get('type')!r}, not aes256-gcm96")
    now = versions(key)
    if action == "encryption_key_begin" and not state["encryption_rotation"]:
        v.write(f"POST {mount}/keys/{name}/rotate", v.client.secrets.transit.rotate_key, name=name, mount_point=mount)
        now["latest_version"] += 1
        state["encryption_rotation"] = {"phase": "rewrapping", "version": now["latest_version"]}
    elif action == "encryption_key_finish" and state["encryption_rotation"]:
        target = int(state["encryption_rotation"]["version"])
        if now["min_decryption_version"] < target:
            v.write(f"POST {mount}/keys/{name}/config", v.client.secrets.transit.update_key_configuration,
                    name=name, min_decryption_version=target, mount_point=mount)
            now["min_decryption_version"] = target
        state["encryption_rotation"] = None
    return now


def ensure_policy(v: Vault, p: dict[str, Any]) -> tuple[str, str]:
    import hvac.exceptions

    want = policy_text(p)
    try:
        have = str(v.client.sys.read_acl_policy(name=p["policy_name"])["data"]["policy"])
    except hvac.exceptions.InvalidPath:
        have = ""
    if have != want:
        v.write(f"PUT sys/policies/acl/{p['policy_name']}", v.client.sys.create_or_update_acl_policy,
                name=p["policy_name"], policy=want)
    return have, want


def read_role(call: Any, **kwargs: Any) -> dict[str, Any]:
    import hvac.exceptions

    try:
        got = call(**kwargs)
    except hvac.exceptions.InvalidPath:
        return {}
    # hvac returns the whole answer for AppRole and only its `data` for Kubernetes.
    return dict(got.get("data", got) if isinstance(got, dict) and "data" in got else got or {})


def ensure_auth_role(v: Vault, p: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The service's AppRole or Kubernetes role; returns (before, after, role id)."""
    policies = [p["policy_name"]]
    if p["auth"] == "approle":
        approle = v.client.auth.approle
        want = {"token_policies": policies, "token_ttl": p["token_ttl"], "token_max_ttl": p["token_ttl"] * 24,
                "secret_id_ttl": p["secret_id_ttl"], "secret_id_num_uses": 0}
        have_all = read_role(approle.read_role, role_name=p["approle_role"], mount_point=p["approle_mount"])
        have = {k: have_all.get(k) for k in want}
        if have != want:
            v.write(f"POST auth/{p['approle_mount']}/role/{p['approle_role']}", approle.create_or_update_approle,
                    role_name=p["approle_role"], mount_point=p["approle_mount"], **want)
        role_id = ""
        if not v.module.check_mode or have_all:
            role_id = str(approle.read_role_id(role_name=p["approle_role"], mount_point=p["approle_mount"])
                          ["data"]["role_id"])
        return have if have_all else {}, want, role_id
    if p["auth"] == "kubernetes":
        k8s = v.client.auth.kubernetes
        want = {"bound_service_account_names": [p["kubernetes_service_account"]],
                "bound_service_account_namespaces": [p["kubernetes_namespace"]],
                "token_policies": policies, "token_ttl": p["token_ttl"]}
        have_all = read_role(k8s.read_role, name=p["kubernetes_role"], mount_point=p["kubernetes_mount"])
        have = {k: have_all.get(k) for k in want}
        if have != want:
            v.write(f"POST auth/{p['kubernetes_mount']}/role/{p['kubernetes_role']}", k8s.create_role,
                    name=p["kubernetes_role"], mount_point=p["kubernetes_mount"], policies=policies,
                    bound_service_account_names=want["bound_service_account_names"],
                    bound_service_account_namespaces=want["bound_service_account_namespaces"],
                    ttl=f"{p['token_ttl']}s")
        return have if have_all else {}, want, ""
    return {}, {}, ""


HOST_METADATA = "snowmcp_host"  # the metadata key naming the host a secret id was issued for


def secret_id_data(v: Vault, p: dict[str, Any], secret_id: str) -> dict[str, Any] | None:
    """What Vault knows of a valid secret id (its metadata among it), or None for an unknown one."""
    import hvac.exceptions

    if not secret_id:
        return None
    try:
        got = v.client.auth.approle.read_secret_id(role_name=p["approle_role"], secret_id=secret_id,
                                                   mount_point=p["approle_mount"])
    except hvac.exceptions.InvalidPath:  # OpenBao answers an unknown secret id with 404
        return None
    # Vault answers 204 (hvac: a Response or None) for an unknown one, 200 with its data for a valid one.
    return dict(got["data"]) if isinstance(got, dict) and got.get("data") else None


def secret_id_valid(v: Vault, p: dict[str, Any], secret_id: str) -> bool:
    return secret_id_data(v, p, secret_id) is not None


def ensure_host_secret_ids(v: Vault, p: dict[str, Any]) -> dict[str, str]:
    """A secret id per host of this run (tagged with its name); any other tagged secret id of
    those hosts, or of hosts neither in this run nor in keep_hosts, destroyed."""
    import hvac.exceptions

    approle = v.client.auth.approle
    where = {"role_name": p["approle_role"], "mount_point": p["approle_mount"]}
    issued: dict[str, str] = {}
    current: dict[str, str] = {}  # host -> accessor of the secret id it holds after this run
    for host, held in sorted(p["host_secret_ids"].items()):
        data = secret_id_data(v, p, held or "")
        tag = (data.get("metadata") or {}).get(HOST_METADATA) if data is not None else None
        if data is not None and tag == host:
            current[host] = str(data.get("secret_id_accessor", ""))
            continue
        got = v.write(f"POST auth/{p['approle_mount']}/role/{p['approle_role']}/secret-id (host {host})",
                      approle.generate_secret_id, metadata={HOST_METADATA: host}, **where)
        issued[host] = str(got["data"]["secret_id"]) if got else ""
        current[host] = str(got["data"]["secret_id_accessor"]) if got else ""
        if data is not None and not tag:
            # Valid but untagged: issued before per-host secret ids. The host now has its own.
            v.write(f"POST auth/{p['approle_mount']}/role/{p['approle_role']}/secret-id/destroy (held by {host})",
                    approle.destroy_secret_id, secret_id=held, **where)
    try:
        accessors = approle.list_secret_id_accessors(**where)["data"]["keys"]
    except hvac.exceptions.InvalidPath:  # none issued yet
        accessors = []
    kept = set(current.values())
    for accessor in accessors:
        if accessor in kept:  # a host's current one: known without reading it again
            continue
        try:
            meta = approle.read_secret_id_accessor(secret_id_accessor=accessor, **where)["data"].get("metadata") or {}
        except hvac.exceptions.InvalidPath:  # expired or destroyed meanwhile
            continue
        host = meta.get(HOST_METADATA)
        # Another of a host's of this run (one it lost), or one of a host gone from the inventory.
        if host in current or (host and host not in p["keep_hosts"]):
            v.write(f"POST auth/{p['approle_mount']}/role/{p['approle_role']}/secret-id-accessor/destroy (host {host})",
                    approle.destroy_secret_id_accessor, secret_id_accessor=accessor, **where)
    return issued


def run(module: AnsibleModule, client: Any) -> dict[str, Any]:
    p = module.params
    p["controller_kv_path"] = p["controller_kv_path"] or p["kv_path"] + "-controller"
    if p["controller_kv_path"] == p["kv_path"]:
        raise StoreError("controller_kv_path must differ from kv_path (the service must not read the admin keys)")
    inv_admin = list(p["inventory_admin_keys"])
    short = [i for i, key in enumerate(inv_admin, 1) if len(key) < 32]
    if short:
        raise StoreError(f"inventory_admin_keys entry {short[0]} has fewer than 32 characters")
    v = Vault(module, client)
    v.ensure_mounts(p)

    stored = v.read_kv(p["kv_mount"], p["controller_kv_path"]) or {}
    before = json.loads(stored["state"]) if "state" in stored else {}
    after = plan(before, p["action"], [], inv_admin, local_keys=False)
    transit = ensure_transit(v, p, after, p["action"])
    v.ensure_kv(p["kv_mount"], p["controller_kv_path"], {"state": json.dumps(after, sort_keys=True)})

    admin = inv_admin or after["admin_keys"]
    slot = current_slot(after)
    secrets_by_slot = {1: p["client_secret"], 2: p["client_secret_2"]}
    service_before = v.read_kv(p["kv_mount"], p["kv_path"]) or {}
    service_after = {"client_id": p["client_id"], "client_secret": secrets_by_slot[slot],
                     "client_secret_next": secrets_by_slot[3 - slot], "admin_keys": ",".join(admin_key_hashes(admin))}
    if p["allowed_users"] is not None:
        service_after["allowed_users"] = ",".join(p["allowed_users"])
    v.ensure_kv(p["kv_mount"], p["kv_path"], service_after)

    policy_before, policy_after = ensure_policy(v, p)
    role_before, role_after, role_id = ensure_auth_role(v, p)

    secret_id = ""
    secret_ids: dict[str, str] = {}
    if p["auth"] == "approle" and p["issue_secret_id"] and p["host_secret_ids"] is not None:
        secret_ids = ensure_host_secret_ids(v, p)
    elif p["auth"] == "approle" and p["issue_secret_id"] and not secret_id_valid(v, p, p["secret_id"]):
        got = v.write(f"POST auth/{p['approle_mount']}/role/{p['approle_role']}/secret-id",
                      client.auth.approle.generate_secret_id, role_name=p["approle_role"],
                      mount_point=p["approle_mount"])
        secret_id = str(got["data"]["secret_id"]) if got else ""
    token = accessor = ""
    if p["issue_token"]:
        got = v.write("POST auth/token/create", client.auth.token.create, policies=[p["policy_name"]],
                      ttl=f"{p['issued_token_ttl']}s", renewable=False, no_default_policy=False,
                      meta={"purpose": "snowmcp token_service one-off command"})
        if got:
            token, accessor = str(got["auth"]["client_token"]), str(got["auth"]["accessor"])
    if p["revoke_accessor"]:
        v.write("POST auth/token/revoke-accessor", client.auth.token.revoke_accessor, accessor=p["revoke_accessor"])

    def shown(data: dict[str, Any]) -> dict[str, Any]:
        return {k: (MASK if k in SERVICE_SECRET_FIELDS and val else val) for k, val in data.items()}

    diff = {
        "before": {"service_secret": shown(service_before), "controller_state": masked(before),
                   "policy": policy_before, "auth_role": role_before},
        "after": {"service_secret": shown(service_after), "controller_state": masked(after),
                  "policy": policy_after, "auth_role": role_after, "transit": transit},
    }
    return {
        "changed": bool(v.requests),
        "requests": v.requests,
        "rotation_state": rotation_state(after, [], admin, False, bool(inv_admin)),
        "secrets": {"admin_keys": [] if inv_admin else after["admin_keys"], "admin_key_hashes": admin_key_hashes(admin)},
        "transit": transit,
        "role_id": role_id,
        "secret_id": secret_id,
        "secret_ids": secret_ids,
        "token": token,
        "token_accessor": accessor,
        "diff": diff,
    }


def main() -> None:
    spec = vault_argument_spec()
    spec.update({
        "action": {"type": "str", "default": "ensure", "choices": list(ACTIONS)},
        "kv_mount": {"type": "str", "default": "secret"},
        "kv_path": {"type": "str", "default": "snowmcp/token-service"},
        "controller_kv_path": {"type": "str", "default": ""},
        "transit_mount": {"type": "str", "default": "transit"},
        "transit_key": {"type": "str", "default": "snowmcp-token-service", "no_log": False},
        "policy_name": {"type": "str", "default": "snowmcp-token-service"},
        "auth": {"type": "str", "default": "approle", "choices": ["approle", "kubernetes", "token_file"]},
        "approle_mount": {"type": "str", "default": "approle"},
        "approle_role": {"type": "str", "default": "snowmcp-token-service"},
        "secret_id_ttl": {"type": "int", "default": 0, "no_log": False},
        "token_ttl": {"type": "int", "default": 3600, "no_log": False},
        "issue_secret_id": {"type": "bool", "default": False},
        "secret_id": {"type": "str", "default": "", "no_log": True},
        "host_secret_ids": {"type": "dict", "no_log": True},
        "keep_hosts": {"type": "list", "elements": "str", "default": []},
        "kubernetes_mount": {"type": "str", "default": "kubernetes"},
        "kubernetes_role": {"type": "str", "default": "snowmcp-token-service"},
        "kubernetes_service_account": {"type": "str", "default": "snowmcp-token-service"},
        "kubernetes_namespace": {"type": "str", "default": "snowmcp"},
        "client_id": {"type": "str", "required": True},
        "client_secret": {"type": "str", "required": True, "no_log": True},
        "client_secret_2": {"type": "str", "required": True, "no_log": True},
        "allowed_users": {"type": "list", "elements": "str"},
        "inventory_admin_keys": {"type": "list", "elements": "str", "default": [], "no_log": True},
        "issue_token": {"type": "bool", "default": False},
        "issued_token_ttl": {"type": "int", "default": 900, "no_log": False},
        "revoke_accessor": {"type": "str", "default": "", "no_log": False},
    })  # fmt: skip
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    client = vault_client(module)
    try:
        result = run(module, client)
    except StoreError as exc:
        module.fail_json(msg=str(exc))
    except vault_errors() as exc:
        # Vault's error text names paths and reasons, never a value sent to it.
        module.fail_json(msg=f"Vault refused a request: {type(exc).__name__}: {str(exc)[:300]}")
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
