"""``python -m bench.graphstub PORT``: a Graph API stand-in for the inbound bench, answering at once.

The normalizer asks Meta for the name of every new Messenger/Instagram sender. Pointed at a closed
port, each ask fails and is retried through the delay queues, and that retry traffic (not the
inbound path) dominated the normalizer's CPU in earlier runs. Production's Graph API answers, so
the bench answers too: any GET gets a profile, anything else a 404. 127.0.0.1 only.
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def health(_request: Request) -> Response:
    return Response("ok")


async def anything(request: Request) -> Response:
    if request.method != "GET":
        return JSONResponse({"error": {"message": "not in the bench stub", "code": 100}}, status_code=404)
    user_id = request.path_params["path"].rsplit("/", 1)[-1]
    return JSONResponse({"id": user_id, "name": "Bench Customer", "username": f"bench_{user_id[-6:]}"})


app = Starlette(
    routes=[
        Route("/healthz", health),
        Route("/{path:path}", anything, methods=["GET", "POST", "DELETE"]),
    ]
)


def main() -> None:
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
