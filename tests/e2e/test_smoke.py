"""The smoke flows of tests/support/smoke.py against the native stack, as compose
(tests/containers/test_stack.py) and the cluster (tests/cluster/test_deploy.py) run them: the
same code, one target each."""

from collections.abc import Iterator

import pytest

from tests.support import smoke
from tests.support.stack import UNTHROTTLED, Stack, isolation

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def url(infra) -> Iterator[str]:
    with Stack(
        infra,
        isolation("smoke"),
        dataflow={"ready_timeout_s": 120},
        orchestrator=dict(llm_provider="local", ready_timeout_s=120),
        backend=UNTHROTTLED,
    ) as up:
        yield up["backend"].url


async def test_a_reply_streams_token_by_token_and_resumes(url: str) -> None:
    await smoke.a_reply_streams_token_by_token_and_resumes(url, "native", direct=True)


async def test_an_upload_is_indexed_and_the_answer_cites_it(url: str) -> None:
    await smoke.an_upload_is_indexed_and_the_answer_cites_it(url, "native-docs", direct=True)
