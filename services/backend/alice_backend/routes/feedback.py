"""Feedback on replies: the conversation's owner rates a reply (up or down, with an optional
comment), stored by the orchestrator on the reply; admins read the totals in `routes/admin.py`."""

from alice_common.ids import check_id
from alice_common.wire import Feedback
from fastapi import APIRouter, Response, status

from alice_backend.auth.dependencies import Ctx, UserId
from alice_backend.errors import error_responses
from alice_backend.schemas import FeedbackIn

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

PATH = "/{conversation_id}/messages/{reply_id}/feedback"
UPSTREAM = (502, 503)


def _ids(conversation_id: str, reply_id: str) -> tuple[str, str]:
    return check_id(conversation_id, "conversation"), check_id(reply_id, "reply")


@router.put(PATH, response_model=Feedback, responses=error_responses(400, 401, 404, 413, 422, *UPSTREAM))
async def give_feedback(
    conversation_id: str, reply_id: str, body: FeedbackIn, ctx: Ctx, user_id: UserId
) -> Feedback:
    """Rates one reply of the caller's conversation; a second rating replaces the first."""
    return await ctx.orchestrator.give_feedback(user_id, *_ids(conversation_id, reply_id), body)


@router.delete(PATH, status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 404, *UPSTREAM))
async def clear_feedback(conversation_id: str, reply_id: str, ctx: Ctx, user_id: UserId) -> Response:
    await ctx.orchestrator.clear_feedback(user_id, *_ids(conversation_id, reply_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
