"""How routes reach what the lifespan created: one typed object per service on `app.state.ctx`,
taken by routes through an `Annotated` alias, e.g.

    Ctx = Annotated[OrchestratorContext, Depends(app_context)]

    @router.get("/x")
    async def x(ctx: Ctx) -> ...

so no route body reads `request.app.state`, and every dependency a route uses is typed.
"""

from typing import Any

from fastapi import FastAPI, Request


def set_app_context(app: FastAPI, ctx: Any) -> None:
    app.state.ctx = ctx


async def app_context(request: Request) -> Any:
    # `async` although it never awaits: FastAPI runs a plain `def` dependency in a worker thread,
    # a thread hop on every request (docs/performance.md).
    # Never raises: FastAPI runs dependencies before it reports invalid parameters, and a bad
    # request must stay a 422. (uvicorn serves no request before the lifespan has started.)
    return getattr(request.app.state, "ctx", None)
