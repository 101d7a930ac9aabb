"""Vault / OpenBao mode: secrets from KV v2, tokens at rest sealed through Transit.

On when SNOWMCP_VAULT_ADDR is set (docs/service.md, "Vault mode"). `client` talks to the
HTTP API (log in, renew, health), `secrets` reads the KV secret, `transit` is the envelope
cipher, `rewrap` is `snowmcp-service vault rewrap`.
"""
