"""The models the orchestrator serves (`GET /internal/models`), memoised for a few seconds: `/v1`
lists them and checks requests against their limits, `/api/models` lists them for the app."""

from alice_common.wire import ServedModels

from alice_backend.app_context import AppContext

_KEY = "served"


async def served_models(ctx: AppContext) -> ServedModels:
    served = ctx.served_models.get(_KEY)
    if served is None:
        served = await ctx.orchestrator.served_models()
        ctx.served_models.put(_KEY, served)
    return served
