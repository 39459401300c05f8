"""Presets: named chat settings (model, system prompt, temperature, max tokens) a user saves and
applies to conversations; admins publish presets for everyone, read-only for the others. Stored
by the orchestrator with the conversations (docs/decisions/0066-model-picker-and-presets.md)."""

from alice_common.ids import check_id
from alice_common.wire import Preset, PresetChanges, PresetList
from fastapi import APIRouter, Response, status

from alice_backend.auth.dependencies import Ctx, CurrentUser, UserId
from alice_backend.errors import ApiError, error_responses
from alice_backend.schemas import PresetCreate, PresetPatch

router = APIRouter(prefix="/api/presets", tags=["presets"])

UPSTREAM = (502, 503)


async def _limit(ctx: Ctx, user_id: str) -> None:
    s = ctx.settings
    too_fast = "saving presets too fast; retry later"
    await ctx.limiter.require(f"rl:{user_id}:preset", s.preset_rate_capacity, s.preset_rate_per_s, too_fast)


def _admins_publish(user: CurrentUser, published: bool | None) -> None:
    if published is not None and not user.is_admin:
        raise ApiError(403, "forbidden", "only administrators publish presets")


@router.get("", response_model=PresetList, responses=error_responses(401, *UPSTREAM))
async def list_presets(ctx: Ctx, user_id: UserId) -> PresetList:
    """The caller's presets by name, then the ones administrators published, by name."""
    return await ctx.orchestrator.list_presets(user_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Preset,
    responses=error_responses(400, 401, 403, 409, 413, 422, 429, *UPSTREAM),
)
async def create_preset(body: PresetCreate, ctx: Ctx, user: CurrentUser) -> Preset:
    """`published: true` (administrators only) lists it for every user."""
    _admins_publish(user, body.published or None)
    await _limit(ctx, user.id)
    return await ctx.orchestrator.create_preset(user.id, body)


@router.patch(
    "/{preset_id}",
    response_model=Preset,
    responses=error_responses(400, 401, 403, 404, 413, 422, 429, *UPSTREAM),
)
async def update_preset(preset_id: str, body: PresetPatch, ctx: Ctx, user: CurrentUser) -> Preset:
    """Rename it, change its settings (replaced as a whole) or publish it; only its author may."""
    _admins_publish(user, body.published)
    await _limit(ctx, user.id)
    changes = PresetChanges(**body.model_dump(exclude_none=True))
    return await ctx.orchestrator.update_preset(user.id, check_id(preset_id, "preset"), changes)


@router.delete(
    "/{preset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, *UPSTREAM),
)
async def delete_preset(preset_id: str, ctx: Ctx, user_id: UserId) -> Response:
    await ctx.orchestrator.delete_preset(user_id, check_id(preset_id, "preset"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
