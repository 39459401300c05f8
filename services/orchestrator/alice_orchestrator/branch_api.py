"""Internal API of a conversation's branches (guarded and scoped like `api.py`; `tree.py` says
what a branch is): the one shown, the path above a message, and choosing another."""

from typing import Annotated

from alice_common.errors import ApiError
from alice_common.wire import BranchChoice, BranchMessage, BranchPage
from fastapi import APIRouter, Query

from alice_orchestrator.api_params import UserId
from alice_orchestrator.app_context import Ctx
from alice_orchestrator.store import ChatStore, message_of
from alice_orchestrator.tree import Tree

router = APIRouter(prefix="/internal/conversations/{conversation_id}/branch")

MAX_BRANCH_PAGE = 200
Limit = Annotated[int, Query(ge=1, le=MAX_BRANCH_PAGE)]


async def _tree(store: ChatStore, user_id: str, conversation_id: str) -> tuple[dict, Tree]:
    conversation = await store.get_conversation(user_id, conversation_id)
    if conversation is None:
        raise ApiError(404, "conversation_not_found", "no such conversation")
    return conversation, Tree.of(await store.skeleton(user_id, conversation_id))


def _known(tree: Tree, message_id: str) -> str:
    if message_id not in tree.by_id:
        raise ApiError(404, "message_not_found", "no such message in this conversation")
    return message_id


async def _page(
    store: ChatStore, user_id: str, conversation_id: str, tree: Tree, path: list[str], limit: int
) -> BranchPage:
    """The last `limit` messages of `path`, each with its versions."""
    shown = path[-limit:]
    docs = await store.messages_by_ids(user_id, conversation_id, shown)
    items = [
        BranchMessage(
            **message_of(docs[i] | {"parent_id": tree.parent(i)}).model_dump(), siblings=tree.siblings(i)
        )
        for i in shown
        if i in docs  # deleted meanwhile
    ]
    more = len(path) > limit
    return BranchPage(items=items, next_before=shown[0] if more else None, leaf_id=path[-1] if path else None)


@router.get("", response_model=BranchPage)
async def get_branch(
    ctx: Ctx,
    conversation_id: str,
    user_id: UserId,
    limit: Limit = 100,
    before: Annotated[str | None, Query(max_length=128)] = None,
) -> BranchPage:
    """The branch shown (its last `limit` messages), or with `before` the path just above that message."""
    conversation, tree = await _tree(ctx.store, user_id, conversation_id)
    if before is not None:
        path = tree.path_to(_known(tree, before))[:-1]
    else:
        path = tree.branch(conversation.get("current_leaf"))
    return await _page(ctx.store, user_id, conversation_id, tree, path, limit)


@router.put("", response_model=BranchPage)
async def choose_branch(
    ctx: Ctx, conversation_id: str, choice: BranchChoice, user_id: UserId, limit: Limit = 100
) -> BranchPage:
    """Shows the branch through `message_id` from now on (a reload, another device)."""
    _, tree = await _tree(ctx.store, user_id, conversation_id)
    chosen = _known(tree, choice.message_id)
    await ctx.store.update_conversation(user_id, conversation_id, {"current_leaf": chosen}, touch=False)
    return await _page(ctx.store, user_id, conversation_id, tree, tree.branch(chosen), limit)
