"""The models Alice serves, for the app's model list (`/v1/models` is the OpenAI-shaped one)."""

from fastapi import APIRouter

from alice_backend.auth.dependencies import Ctx, UserId
from alice_backend.errors import error_responses
from alice_backend.schemas import ServedModel, ServedModelList
from alice_backend.served_models import served_models

router = APIRouter(prefix="/api/models", tags=["models"])


@router.get("", response_model=ServedModelList, responses=error_responses(401, 502, 503))
async def list_models(ctx: Ctx, _user_id: UserId) -> ServedModelList:
    served = await served_models(ctx)
    return ServedModelList(
        items=[
            ServedModel(
                id=m.model,
                default=m.default,
                context_tokens=m.context_tokens,
                max_tokens_limit=m.max_tokens_limit,
                available=m.available,
            )
            for m in served.models
        ]
    )
