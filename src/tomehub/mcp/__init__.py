"""TomeHub as an MCP server: the library's tools (``tools``) over stdio (``stdio``: ``tomehub mcp``)
and streamable HTTP at /mcp (``http``). An adapter like the CLI: it calls the domains' services and
is imported by nothing but the app and the CLI.

The package is ``tomehub.mcp``; the SDK is the top-level ``mcp``, which absolute imports always
reach (no module here imports ``mcp`` relatively)."""
