"""Export conversations as a download (Alice's JSON archive or Markdown) and import an archive
back (docs/api.md "Export and import"). The orchestrator reads and writes; this is the edge."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from alice_common.ids import check_id
from alice_common.wire import ArchivedConversation, ArchivePage, ConversationArchive, ImportedConversations
from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse

from alice_backend.app_context import AppContext
from alice_backend.archive_files import (
    MEDIA_TYPES,
    ExportFormat,
    archive_json,
    archive_json_stream,
    attachment,
    conversation_markdown,
    download_name,
    markdown_stream,
)
from alice_backend.auth.dependencies import Ctx, UserId
from alice_backend.errors import ApiError, error_responses

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

IMPORT_PATH = "/api/conversations/import"
UPSTREAM = (502, 503)
# Conversations asked of the orchestrator at once while "export all" streams.
EXPORT_PAGE = 10

Format = Annotated[
    ExportFormat,
    Query(description="`json`: Alice's archive, which `POST /api/conversations/import` takes back; "
          "`markdown`: for reading"),
]  # fmt: skip
FILE = {
    200: {
        "description": "the file, as a download (`Content-Disposition: attachment`)",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ConversationArchive"}},
            "text/markdown": {"schema": {"type": "string"}},
        },
    }
}


@router.get(
    "/export", response_class=Response, responses={**FILE, **error_responses(401, 413, 422, 429, *UPSTREAM)}
)
async def export_all(ctx: Ctx, user_id: UserId, format: Format = "json") -> Response:
    """Every conversation of the caller, archived ones too, oldest first, written out as they are
    read. A caller with more than `MAX_EXPORT_CONVERSATIONS` is refused (413)."""
    await _limit_exports(ctx, user_id)
    first = await ctx.orchestrator.export_page(user_id, EXPORT_PAGE)
    cap = ctx.settings.max_export_conversations
    if first.total > cap:
        raise ApiError(
            413, "export_too_large", f"export all takes at most {cap} conversations; export them one by one"
        )
    now = datetime.now(UTC)
    conversations = _every_conversation(ctx, user_id, first, cap)
    body = archive_json_stream(conversations, now) if format == "json" else markdown_stream(conversations)
    name = download_name("alice-conversations", None, format, now)
    return StreamingResponse(body, media_type=MEDIA_TYPES[format], headers=attachment(name))


async def _limit_exports(ctx: AppContext, user_id: str) -> None:
    s = ctx.settings
    await ctx.limiter.require(
        f"rl:{user_id}:export", s.export_rate_capacity, s.export_rate_per_s, "exporting too fast; retry later"
    )


async def _every_conversation(
    ctx: AppContext, user_id: str, page: ArchivePage, cap: int
) -> AsyncIterator[ArchivedConversation]:
    sent = 0
    while True:
        for conversation in page.items:
            if sent == cap:  # created since the count: they wait for the next export
                return
            sent += 1
            yield conversation
        if page.next_after is None:
            return
        page = await ctx.orchestrator.export_page(user_id, EXPORT_PAGE, page.next_after)


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportedConversations,
    responses=error_responses(400, 401, 413, 422, 429, *UPSTREAM),
)
async def import_conversations(body: ConversationArchive, ctx: Ctx, user_id: UserId) -> ImportedConversations:
    """Alice's JSON archive (what the JSON export writes) as the request body: every conversation
    in it becomes a new one of the caller, with new ids; all of them or, on any error, none. One
    the caller imported before (the same exported conversation) is answered as already present
    and not stored again; the imported messages are indexed for search and memory."""
    s = ctx.settings
    await ctx.limiter.require(
        f"rl:{user_id}:import", s.import_rate_capacity, s.import_rate_per_s, "importing too fast; retry later"
    )
    if not body.conversations:
        raise ApiError(422, "validation_error", "conversations: the file holds no conversation")
    if len(body.conversations) > s.max_import_conversations or body.message_count() > s.max_import_messages:
        raise ApiError(
            413,
            "import_too_large",
            f"an import takes at most {s.max_import_conversations} conversations "
            f"and {s.max_import_messages} messages",
        )
    imported = await ctx.orchestrator.import_conversations(user_id, body)
    for conversation in (*imported.conversations, *imported.already_present):
        ctx.conversation_owners.remember(conversation.id, user_id)
    return imported


@router.get(
    "/{conversation_id}/export",
    response_class=Response,
    responses={**FILE, **error_responses(401, 404, 413, 422, 429, *UPSTREAM)},
)
async def export_one(conversation_id: str, ctx: Ctx, user_id: UserId, format: Format = "json") -> Response:
    conversation_id = check_id(conversation_id, "conversation")
    await _limit_exports(ctx, user_id)
    conversation = await ctx.orchestrator.export_conversation(user_id, conversation_id)
    now = datetime.now(UTC)
    if format == "json":
        content = archive_json([conversation], now)
    else:
        content = conversation_markdown(conversation)
    name = download_name("alice-conversation", conversation.title, format, now)
    return Response(content, media_type=MEDIA_TYPES[format], headers=attachment(name))
