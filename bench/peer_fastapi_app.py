"""The seed systems' stack as a benchmark peer (not a test): FastAPI on uvicorn (uvloop event loop, httptools
parser, one worker process) serving `GET /ops/status` the idiomatic FastAPI way — a bearer-token dependency that
compares in constant time, and a pydantic response model (the ops server's own `StatusResponse`, so both answer
the same schema).

    pip install -e '.[bench]'
    python bench/peer_fastapi_app.py --port 8001 --body status.json --token TOKEN

`--body` is a status document as the ops server answers it (server_load.py and mixed_load.py fetch one from the ops
server and start this peer on it). Choices that keep the comparison fair to FastAPI: the dependency is `async`
(a plain `def` one would run in the thread pool on every request), the handler returns the model and lets FastAPI
validate and serialise it through the response model (its fast path: pydantic straight to JSON bytes), and uvicorn's
access log is off, as the ops server's is."""

import argparse
import secrets
import sys
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.control import StatusResponse  # noqa: E402


def create_app(snapshot: StatusResponse, token: str) -> FastAPI:
    """The peer app: one route, behind a bearer check, answering `snapshot` through its response model."""
    expected = token.encode()
    bearer = HTTPBearer()

    async def require_token(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> None:
        if not secrets.compare_digest(credentials.credentials.encode(), expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, detail="invalid token", headers={"WWW-Authenticate": "Bearer"}
            )

    app = FastAPI(title="ops status peer", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/ops/status", response_model=StatusResponse, dependencies=[Depends(require_token)])
    async def ops_status() -> StatusResponse:
        return snapshot

    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="a status document, as GET /ops/status answers")
    parser.add_argument("--token", required=True)
    args = parser.parse_args()

    import uvicorn

    snapshot = StatusResponse.model_validate_json(args.body.read_bytes())
    uvicorn.run(
        create_app(snapshot, args.token),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
