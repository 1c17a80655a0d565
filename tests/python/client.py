"""Drives the server over Streamable HTTP with the official MCP Python SDK (mcp 2.x), as a
remote agent would: lists the tools and calls each one offered, checking every structured
result against the tool's output schema. Prints one JSON object: what it saw.

    python client.py URL MODE EMAIL

MODE is "legacy" (the initialize handshake) or a modern protocol version ("2026-07-28":
no handshake, per-request metadata)."""

import asyncio
import json
import sys

import jsonschema
from mcp import Client


async def main(url: str, mode: str, email: str) -> None:
    async with Client(url, mode=mode) as client:
        listed = await client.list_tools()
        tools = {t.name: t for t in listed.tools}
        calls = {}

        async def call(name: str, args: dict) -> dict:
            result = await client.call_tool(name, args)
            seen = {
                "isError": bool(result.is_error),
                "structured": result.structured_content,
                "text": "".join(getattr(c, "text", "") for c in result.content),
            }
            schema = tools[name].output_schema
            if not seen["isError"] and schema is not None:
                jsonschema.validate(seen["structured"], schema)
            calls[name] = seen
            return seen

        token = "not-a-token"
        session = None
        if "sign_up" in tools:
            up = await call("sign_up", {"email": email, "password": "password123"})
            token, session = up["structured"]["token"], up["structured"]["sessionToken"]
        if "sign_in" in tools:
            inn = await call("sign_in", {"email": email, "password": "password123"})
            token, session = inn["structured"]["token"], inn["structured"]["sessionToken"]
        await call("verify_token", {"token": token})
        await call("get_user", {"token": token})
        if "refresh_token" in tools:
            await call("refresh_token", {"sessionToken": session})
        if "sign_out" in tools:
            await call("sign_out", {"sessionToken": session})
        print(
            json.dumps(
                {
                    "protocolVersion": client.protocol_version,
                    "tools": sorted(tools),
                    "calls": calls,
                }
            )
        )


asyncio.run(main(*sys.argv[1:]))
