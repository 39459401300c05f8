"""The orchestrator's internal API (`/internal/...`), one typed method per endpoint."""

from alice_common.wire import (
    ArchivedConversation,
    ArchivePage,
    BranchChoice,
    BranchPage,
    ChatSettings,
    Conversation,
    ConversationArchive,
    ConversationChanges,
    ConversationPage,
    Feedback,
    FeedbackGiven,
    FeedbackStats,
    ImportedConversations,
    MessagePage,
    Preset,
    PresetChanges,
    PresetIn,
    PresetList,
    PromptSize,
    PromptSizeRequest,
    ReplyRef,
    ServedModels,
    Share,
    ShareCreate,
    SharedConversation,
    ShareList,
)

from alice_backend.internal_client import InternalClient, seg


def _conversation(conversation_id: str) -> str:
    return f"/internal/conversations/{seg(conversation_id)}"


def _feedback(conversation_id: str, reply_id: str) -> str:
    return f"{_conversation(conversation_id)}/messages/{seg(reply_id)}/feedback"


class OrchestratorClient(InternalClient):
    async def list_conversations(
        self, user_id: str, limit: int, before: str | None = None, archived: bool = False
    ) -> ConversationPage:
        # Sent only when true, so the default list's query is as before.
        params = {"limit": limit, "before": before, "archived": "true" if archived else None}
        return await self.get_as(
            ConversationPage, "GET", "/internal/conversations", user_id=user_id, params=params
        )

    async def create_conversation(
        self, user_id: str, title: str | None = None, settings: ChatSettings | None = None
    ) -> Conversation:
        payload: dict = {"title": title} if title else {}
        if settings is not None:
            payload["settings"] = settings.model_dump(exclude_none=True)
        return await self.get_as(
            Conversation, "POST", "/internal/conversations", user_id=user_id, json=payload
        )

    async def get_conversation(self, user_id: str, conversation_id: str) -> Conversation:
        return await self.get_as(Conversation, "GET", _conversation(conversation_id), user_id=user_id)

    async def update_conversation(
        self, user_id: str, conversation_id: str, changes: ConversationChanges
    ) -> Conversation:
        path = _conversation(conversation_id)
        json = changes.model_dump(exclude_none=True)
        return await self.get_as(Conversation, "PATCH", path, user_id=user_id, json=json)

    async def delete_conversation(self, user_id: str, conversation_id: str) -> None:
        await self.call("DELETE", _conversation(conversation_id), user_id=user_id)

    async def export_conversation(self, user_id: str, conversation_id: str) -> ArchivedConversation:
        path = f"{_conversation(conversation_id)}/export"
        return await self.get_as(ArchivedConversation, "GET", path, user_id=user_id)

    async def export_page(self, user_id: str, limit: int, after: str | None = None) -> ArchivePage:
        params = {"limit": limit, "after": after}
        return await self.get_as(
            ArchivePage, "GET", "/internal/conversations/export", user_id=user_id, params=params
        )

    async def import_conversations(self, user_id: str, archive: ConversationArchive) -> ImportedConversations:
        json = archive.model_dump(mode="json", exclude_none=True)
        return await self.get_as(
            ImportedConversations, "POST", "/internal/conversations/import", user_id=user_id, json=json
        )

    async def list_messages(
        self, user_id: str, conversation_id: str, limit: int, before: str | None = None
    ) -> MessagePage:
        path = f"{_conversation(conversation_id)}/messages"
        params = {"limit": limit, "before": before}
        return await self.get_as(MessagePage, "GET", path, user_id=user_id, params=params)

    async def get_branch(
        self, user_id: str, conversation_id: str, limit: int, before: str | None = None
    ) -> BranchPage:
        path = f"{_conversation(conversation_id)}/branch"
        params = {"limit": limit, "before": before}
        return await self.get_as(BranchPage, "GET", path, user_id=user_id, params=params)

    async def choose_branch(
        self, user_id: str, conversation_id: str, choice: BranchChoice, limit: int
    ) -> BranchPage:
        path = f"{_conversation(conversation_id)}/branch"
        json, params = choice.model_dump(), {"limit": limit}
        return await self.get_as(BranchPage, "PUT", path, user_id=user_id, json=json, params=params)

    async def give_feedback(
        self, user_id: str, conversation_id: str, reply_id: str, given: FeedbackGiven
    ) -> Feedback:
        path = _feedback(conversation_id, reply_id)
        json = given.model_dump(exclude_none=True)
        return await self.get_as(Feedback, "PUT", path, user_id=user_id, json=json)

    async def clear_feedback(self, user_id: str, conversation_id: str, reply_id: str) -> None:
        await self.call("DELETE", _feedback(conversation_id, reply_id), user_id=user_id)

    async def feedback_stats(self) -> FeedbackStats:
        return await self.get_as(FeedbackStats, "GET", "/internal/feedback/stats")

    async def get_reply(self, user_id: str, reply_id: str) -> ReplyRef:
        return await self.get_as(ReplyRef, "GET", f"/internal/replies/{seg(reply_id)}", user_id=user_id)

    async def list_presets(self, user_id: str) -> PresetList:
        return await self.get_as(PresetList, "GET", "/internal/presets", user_id=user_id)

    async def get_preset(self, user_id: str, preset_id: str) -> Preset:
        return await self.get_as(Preset, "GET", f"/internal/presets/{seg(preset_id)}", user_id=user_id)

    async def create_preset(self, user_id: str, preset: PresetIn) -> Preset:
        json = preset.model_dump(exclude_none=True)
        return await self.get_as(Preset, "POST", "/internal/presets", user_id=user_id, json=json)

    async def update_preset(self, user_id: str, preset_id: str, changes: PresetChanges) -> Preset:
        path = f"/internal/presets/{seg(preset_id)}"
        json = changes.model_dump(exclude_none=True)
        return await self.get_as(Preset, "PATCH", path, user_id=user_id, json=json)

    async def delete_preset(self, user_id: str, preset_id: str) -> None:
        await self.call("DELETE", f"/internal/presets/{seg(preset_id)}", user_id=user_id)

    async def served_models(self) -> ServedModels:
        return await self.get_as(ServedModels, "GET", "/internal/models")

    async def prompt_size(self, request: PromptSizeRequest) -> PromptSize:
        body = request.model_dump(mode="json")
        return await self.get_as(PromptSize, "POST", "/internal/models/prompt-size", json=body)

    async def create_share(self, user_id: str, conversation_id: str, token_sha256: str) -> Share:
        path = f"{_conversation(conversation_id)}/shares"
        json = ShareCreate(token_sha256=token_sha256).model_dump()
        return await self.get_as(Share, "POST", path, user_id=user_id, json=json)

    async def list_shares(self, user_id: str, conversation_id: str) -> ShareList:
        return await self.get_as(
            ShareList, "GET", f"{_conversation(conversation_id)}/shares", user_id=user_id
        )

    async def revoke_share(self, user_id: str, share_id: str) -> None:
        await self.call("DELETE", f"/internal/shares/{seg(share_id)}", user_id=user_id)

    async def read_shared(self, token_sha256: str) -> SharedConversation:
        return await self.get_as(SharedConversation, "GET", f"/internal/shared/{seg(token_sha256)}")
