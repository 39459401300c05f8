"""Fixtures shared by the integration tests."""

import pytest
from pymongo import AsyncMongoClient


@pytest.fixture
async def db(infra, unique_name):
    """A database of its own on the real MongoDB-protocol server, dropped afterwards."""
    client = AsyncMongoClient(infra.mongodb_url, serverSelectionTimeoutMS=5000, tz_aware=True)
    name = unique_name("test")
    yield client[name]
    await client.drop_database(name)
    await client.close()
