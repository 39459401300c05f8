"""Real infrastructure and service processes for tests (the pytest plugin is `devstack.testing.fixtures`,
loaded by the root conftest.py).

Fixtures:
  infra          session: URLs of real Kafka, Redis, MongoDB (wire protocol) and Weaviate servers
  unique_name    function: `unique_name("db")` -> "db_3f2a9c1b7e" (isolates data between runs)
  start_service  function: `start_service("backend", **overrides)` -> a started ServiceProcess,
                 stopped when the test ends
  private_redis  function: a Redis of the test's own on a free port, to stop and start at will
  second_devstack function: a devstack of the test's own (state dir, free ports):
                 `second_devstack("start", "mongodb")`, to stop and start its servers at will

Where the servers come from (infra.py):
  1. environment variables, each one on its own: ALICE_TEST_KAFKA (bootstrap servers),
     ALICE_TEST_REDIS_URL, ALICE_TEST_MONGODB_URL, ALICE_TEST_WEAVIATE_URL,
     ALICE_TEST_WEAVIATE_GRPC_PORT (default 50051);
  2. for the others, the native stack: `devstack up --infra` when it is not up yet; what a test
     session started is stopped again by the last test session that ends (leases.py: sessions
     running in parallel share it).
Where they came from is printed in pytest's header.

When a session ends it deletes the topics and databases it provably owns (testdata.py): its own
prefix and database, and the names `unique_name` handed out in this process.
"""

from devstack.testing.infra import Infra
from devstack.testing.processes import PrivateRedis, SecondDevstack, ServiceProcess, free_port, service_env
from devstack.testing.testdata import unique_name

__all__ = [
    "Infra", "PrivateRedis", "SecondDevstack", "ServiceProcess", "free_port", "service_env", "unique_name",
]  # fmt: skip
