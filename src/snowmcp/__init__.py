"""snowmcp: Snowflake-managed MCP servers in Claude Code for every SSO user."""

__version__ = "0.1.0"
