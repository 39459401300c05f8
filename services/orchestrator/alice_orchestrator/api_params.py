"""Query parameters every internal route shares."""

from typing import Annotated

from alice_common.ids import INTERNAL_ID_PATTERN
from fastapi import Query

UserId = Annotated[str, Query(pattern=INTERNAL_ID_PATTERN)]
