"""Connection options shared by every snowmcp.core Snowflake module."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  account:
    description:
      - Snowflake account identifier (C(ORG-ACCOUNT) or the locator).
      - Falls back to E(SNOWFLAKE_ACCOUNT). Required unless O(connection_name) is set.
    type: str
  user:
    description: Login name to connect as. Falls back to E(SNOWFLAKE_USER).
    type: str
  password:
    description:
      - Password for O(user), or a programmatic access token used in its place. Falls back to E(SNOWFLAKE_PASSWORD).
        Never logged.
      - Legacy for people and refused for service users by Snowflake; prefer O(private_key_file) or a programmatic
        access token.
    type: str
  private_key_file:
    description:
      - Path to a PEM (PKCS#8) private key for key-pair sign-in; implies O(authenticator=SNOWFLAKE_JWT). Its public
        key must be the user's C(RSA_PUBLIC_KEY) or C(RSA_PUBLIC_KEY_2).
      - The file is read before connecting. An unreadable file, a missing or wrong passphrase, or a key Snowflake
        refuses (the message gives the key's C(SHA256:) fingerprint to compare with C(RSA_PUBLIC_KEY_FP) of
        C(DESCRIBE USER)) fails the task before any statement runs.
      - Falls back to E(SNOWFLAKE_PRIVATE_KEY_FILE).
    type: path
  private_key_passphrase:
    description:
      - Passphrase of an encrypted O(private_key_file). Falls back to E(SNOWFLAKE_PRIVATE_KEY_FILE_PWD) or
        E(SNOWFLAKE_PRIVATE_KEY_PASSPHRASE). Never logged.
    type: str
  authenticator:
    description:
      - Connector authenticator, for example C(SNOWFLAKE_JWT), C(PROGRAMMATIC_ACCESS_TOKEN), C(snowflake) (password),
        C(oauth), C(externalbrowser).
      - Falls back to E(SNOWFLAKE_AUTHENTICATOR). Defaults to C(SNOWFLAKE_JWT) when O(private_key_file) is set and to
        C(oauth) when O(token) is set.
    type: str
  token:
    description:
      - OAuth access token, or with O(authenticator=PROGRAMMATIC_ACCESS_TOKEN) a programmatic access token
        (C(ALTER USER ... ADD PROGRAMMATIC ACCESS TOKEN)). Falls back to E(SNOWFLAKE_TOKEN). Never logged.
    type: str
  role:
    description:
      - Role the session uses (needs the privileges to manage integrations, roles and grants, typically C(ACCOUNTADMIN)
        or C(SECURITYADMIN)). Falls back to E(SNOWFLAKE_ROLE).
    type: str
  warehouse:
    description: Session warehouse (not needed for the DDL these modules run). Falls back to E(SNOWFLAKE_WAREHOUSE).
    type: str
  connection_name:
    description:
      - Name of a connection in C(~/.snowflake/connections.toml) (the Snowflake CLI convention); other options given
        override its values. Falls back to E(SNOWFLAKE_CONNECTION_NAME).
    type: str
  host:
    description: Host to connect to instead of the account's own; only for the local emulator. Falls back to E(SNOWFLAKE_HOST).
    type: str
  port:
    description: Port for O(host). Falls back to E(SNOWFLAKE_PORT).
    type: int
  protocol:
    description: C(https) (default) or C(http) (the local emulator only). Falls back to E(SNOWFLAKE_PROTOCOL).
    type: str
    choices: [https, http]
  login_timeout:
    description: Seconds to wait for the login to complete.
    type: int
    default: 60
notes:
  - Requires C(snowflake-connector-python) on the host that runs the module (usually the controller).
  - The connection options match the keys of the inventory variable C(snowflake_connection), so a play can set them all
    at once with C(module_defaults) for the action group C(group/snowmcp.core.snowflake).
  - Every module returns C(queries), the statements it ran (or, in check mode, would run), secrets masked.
"""
