"""What the internal API's routes use, created in the lifespan (`main.py`)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from alice_common.app_context import app_context
from alice_common.events import ChatCompleted, ConversationDeleted
from fastapi import Depends

from alice_orchestrator.model_health import ModelHealth
from alice_orchestrator.providers.registry import ModelRegistry
from alice_orchestrator.recent_turns import RecentTurns
from alice_orchestrator.settings import Settings
from alice_orchestrator.store import ChatStore


@dataclass
class AppContext:
    settings: Settings
    store: ChatStore
    recent_turns: RecentTurns
    models: ModelRegistry
    publish_deleted: Callable[[ConversationDeleted], Awaitable[None]]
    # Every event acknowledged by Kafka once it returns (an import's messages, for search).
    announce_imported: Callable[[list[ChatCompleted]], Awaitable[None]]
    health: ModelHealth


Ctx = Annotated[AppContext, Depends(app_context)]
