"""What the routes use, created in the lifespan (`main.py`)."""

from dataclasses import dataclass
from typing import Annotated

from alice_common.app_context import app_context
from fastapi import Depends

from alice_kafkaflow.dlq import DlqService
from alice_kafkaflow.poller import KafkaPoller
from alice_kafkaflow.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    poller: KafkaPoller
    dlq: DlqService


Ctx = Annotated[AppContext, Depends(app_context)]
