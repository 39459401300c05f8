"""How routes reach what the lifespan created: one typed object per service on `app.state.ctx`,
taken by routes through an `Annotated` alias, e.g.

    Ctx = Annotated[OrchestratorContext, Depends(app_context)]

    @router.get("/x")
    async def x(ctx: Ctx) -> ...

so no route body reads `request.app.state`, and every dependency a route uses is typed.
"""

from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException


def set_app_context(app: FastAPI, ctx: Any) -> None:
    app.state.ctx = ctx


async def app_context(request: Request) -> Any:
    # `async` although it never awaits: FastAPI runs a plain `def` dependency in a worker thread,
    # a thread hop on every request (docs/performance.md).
    # Raises only while the service is starting (alice_common.startup): then nothing the routes
    # need exists yet, and the answer is a 503 that says when to retry, never a hang. Otherwise
    # never: FastAPI runs dependencies before it reports invalid parameters, and a bad request
    # must stay a 422 (a test may run routes without a lifespan).
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None:
        startup = getattr(request.app.state, "startup", None)
        if startup is not None:
            raise HTTPException(
                503,
                f"{startup.service} is {startup.report()}; retry shortly",
                headers={"Retry-After": str(STARTING_RETRY_AFTER_S)},
            )
    return ctx


STARTING_RETRY_AFTER_S = 2
