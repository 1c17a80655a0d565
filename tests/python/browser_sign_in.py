"""Drives begin_browser_sign_in over stdio with the official MCP Python SDK (mcp 2.x), as a
client with URL-mode elicitation (2025-11-25) or without it. Prints one JSON object: what it
saw (the URLs it was shown, the progress it was sent, the tool's result).

    python browser_sign_in.py CONFIG

CONFIG is JSON: {command, env, cwd, api, origin, token, elicit, mode} (or {url, ...}: the
server over Streamable HTTP at that URL instead of a command); `mode` is "legacy"
(2025-11-25: elicitation/create) or "2026-07-28" (an input-required result, retried by the
SDK with the callback's answer). With `elicit`, the elicitation
callback is the person: shown the app's page, they accept, and a moment later (so that the
tool is seen waiting) sign the approval on the app's own /device routes with the browser
session `token`, as its page would."""

import asyncio
import json
import sys
import urllib.parse
import urllib.request

import mcp.types as types
from mcp import Client, StdioServerParameters


def app_call(config: dict, method: str, path: str, body: dict | None = None) -> int:
    request = urllib.request.Request(
        config["api"] + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "authorization": "Bearer " + config["token"],
            "origin": config["origin"],
            "content-type": "application/json",
        },
    )
    with urllib.request.urlopen(request) as response:
        return response.status


def approve(config: dict, user_code: str) -> None:
    app_call(config, "GET", "/device?user_code=" + urllib.parse.quote(user_code))
    app_call(config, "POST", "/device/approve", {"userCode": user_code})


async def main(config: dict) -> None:
    shown = []
    progress = []
    approvals = []

    async def elicit(context, params):
        shown.append({"mode": params.mode, "url": params.url, "message": params.message})
        user_code = urllib.parse.parse_qs(urllib.parse.urlparse(params.url).query)["user_code"][0]

        async def later() -> None:
            await asyncio.sleep(2.5)
            await asyncio.to_thread(approve, config, user_code)

        approvals.append(asyncio.create_task(later()))
        return types.ElicitResult(action="accept")

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append({"progress": done, "total": total, "message": message})

    if "url" in config:
        server = config["url"]
    else:
        server = StdioServerParameters(command=config["command"], env=config["env"], cwd=config["cwd"])
    callback = elicit if config["elicit"] else None
    async with Client(server, mode=config["mode"], elicitation_callback=callback) as client:
        result = await client.call_tool(
            "begin_browser_sign_in", {}, read_timeout_seconds=60, progress_callback=on_progress
        )
        for task in approvals:
            await task
        print(
            json.dumps(
                {
                    "shown": shown,
                    "progress": progress,
                    "isError": bool(result.is_error),
                    "structured": result.structured_content,
                    "text": "".join(getattr(c, "text", "") for c in result.content),
                }
            )
        )


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
