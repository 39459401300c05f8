import os
from collections.abc import Iterator

import pytest
from devstack.testing import ServiceProcess


@pytest.fixture(scope="session", autouse=True)
def local_model_route(request):
    """ALICE_TEST_LLM=inference: the tests' local model is served by the inference service."""
    if os.environ.get("ALICE_TEST_LLM", "local") != "inference":
        yield
        return
    from tests.support import stack

    server = request.getfixturevalue("inference_server")
    stack.LOCAL_MODEL_ROUTE.update(llm_provider="inference", inference_url=server.url)
    yield
    stack.LOCAL_MODEL_ROUTE.clear()


@pytest.fixture(scope="module")
def second_backend(stack) -> Iterator[ServiceProcess]:
    """Another replica of the module's backend (same settings, its own process and caches): what
    one replica revokes must be refused by the other too."""
    replica = ServiceProcess("backend", stack["backend"].env)
    replica.start()
    try:
        yield replica
    finally:
        replica.stop()
