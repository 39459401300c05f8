"""Internal API of presets (guarded and scoped like `api.py`): someone else's private preset
answers 404, exactly like one that does not exist; a preset published by someone else is read-only
(403)."""

from alice_common.errors import ApiError
from alice_common.wire import Preset, PresetChanges, PresetIn, PresetList
from fastapi import APIRouter
from fastapi.responses import Response

from alice_orchestrator.api_params import UserId
from alice_orchestrator.app_context import Ctx
from alice_orchestrator.conversation_settings import checked_settings
from alice_orchestrator.presets import MAX_PRESETS_PER_USER, PresetStore, preset_of

router = APIRouter(prefix="/internal/presets")


async def own_preset(presets: PresetStore, user_id: str, preset_id: str) -> dict:
    """A preset the user may change: theirs. Published by another: 403; otherwise 404."""
    doc = await presets.get_visible(user_id, preset_id)
    if doc is None:
        raise ApiError(404, "preset_not_found", "no such preset")
    if doc["user_id"] != user_id:
        raise ApiError(403, "preset_read_only", "this preset is published by an administrator: save a copy")
    return doc


@router.get("", response_model=PresetList)
async def list_presets(ctx: Ctx, user_id: UserId) -> PresetList:
    docs = await ctx.store.presets.visible(user_id)
    return PresetList(items=[preset_of(doc, user_id) for doc in docs])


@router.get("/{preset_id}", response_model=Preset)
async def get_preset(ctx: Ctx, preset_id: str, user_id: UserId) -> Preset:
    doc = await ctx.store.presets.get_visible(user_id, preset_id)
    if doc is None:
        raise ApiError(404, "preset_not_found", "no such preset")
    return preset_of(doc, user_id)


@router.post("", status_code=201, response_model=Preset)
async def create_preset(ctx: Ctx, user_id: UserId, body: PresetIn) -> Preset:
    """`published` is the backend's to allow (admins only)."""
    checked_settings(ctx.models, body.settings)
    if await ctx.store.presets.count(user_id) >= MAX_PRESETS_PER_USER:
        raise ApiError(409, "too_many_presets", f"at most {MAX_PRESETS_PER_USER} presets; delete one first")
    body = body.model_copy(update={"name": _name(body.name)})
    return preset_of(await ctx.store.presets.create(user_id, body), user_id)


@router.patch("/{preset_id}", response_model=Preset)
async def update_preset(ctx: Ctx, preset_id: str, user_id: UserId, body: PresetChanges) -> Preset:
    await own_preset(ctx.store.presets, user_id, preset_id)
    if body.settings is not None:
        checked_settings(ctx.models, body.settings)
    if body.name is not None:
        body = body.model_copy(update={"name": _name(body.name)})
    updated = await ctx.store.presets.update(preset_id, body)
    if updated is None:
        raise ApiError(404, "preset_not_found", "no such preset")
    return preset_of(updated, user_id)


@router.delete("/{preset_id}", status_code=204)
async def delete_preset(ctx: Ctx, preset_id: str, user_id: UserId) -> Response:
    await own_preset(ctx.store.presets, user_id, preset_id)
    if not await ctx.store.presets.delete(preset_id):
        raise ApiError(404, "preset_not_found", "no such preset")
    return Response(status_code=204)


def _name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ApiError(422, "validation_error", "the name must not be blank")
    return cleaned
