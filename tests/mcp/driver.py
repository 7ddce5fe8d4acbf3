"""Drives an MCP server over stdio with the official Python SDK (PyPI `mcp`), one command at a
time, for tests/mcp.rs.

    python3 driver.py COMMAND [ARG...]

starts COMMAND as an MCP server (stdio transport, environment: the SDK's defaults plus every
WADM_* variable of this process), initializes the session, then reads one JSON command per
line on stdin and writes one JSON answer per line on stdout:

    {"op": "init"}                        -> {"server": {...}, "instructions": "..."}
    {"op": "list"}                        -> {"tools": [<Tool as JSON>...]}
    {"op": "call", "name": N, "arguments": {...}}
        -> {"is_error": bool, "text": [<text blocks>], "structured": <structuredContent>}
        or {"protocol_error": {"code": C, "message": M}} when the server answers with a
           JSON-RPC error

At end of input the session is closed, which ends the server; the driver exits 0. Anything
unexpected (the server dying, a malformed command) ends the driver with a non-zero status and
a message on stderr.
"""

import json
import os
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError


def dump(value):
    return value.model_dump(mode="json", by_alias=True, exclude_none=True)


async def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k.startswith("WADM_")}
    server = StdioServerParameters(command=argv[1], args=argv[2:], env=env)
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            initialized = await session.initialize()
            while True:
                line = await anyio.to_thread.run_sync(sys.stdin.readline)
                if not line:
                    return 0
                command = json.loads(line)
                op = command["op"]
                if op == "init":
                    answer = {
                        "server": dump(initialized.server_info),
                        "instructions": initialized.instructions,
                        "capabilities": dump(initialized.capabilities),
                    }
                elif op == "list":
                    listed = await session.list_tools()
                    answer = {"tools": [dump(tool) for tool in listed.tools]}
                elif op == "call":
                    try:
                        result = await session.call_tool(
                            command["name"], command.get("arguments")
                        )
                    except MCPError as err:
                        answer = {
                            "protocol_error": {
                                "code": err.error.code,
                                "message": err.error.message,
                            }
                        }
                    else:
                        answer = {
                            "is_error": bool(result.is_error),
                            "text": [
                                block.text
                                for block in result.content
                                if getattr(block, "type", None) == "text"
                            ],
                            "structured": result.structured_content,
                        }
                else:
                    raise ValueError(f"unknown op {op!r}")
                sys.stdout.write(json.dumps(answer) + "\n")
                sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv))
