"""Several models (`LLM_MODELS`): the setting's checks, the registry, and a request answered by the
model it names. Unit tests: the chat path's Redis is an in-memory stand-in with just the commands
a stateless completion uses (the whole path with real Redis and MongoDB: test_handler_integration)."""

import json
from contextlib import asynccontextmanager

import pytest
from alice_common.events import ChatRequested, CompletionRequest
from alice_common.reply_stream import DONE, FAILED, TOKEN
from alice_orchestrator.chat import ChatHandler
from alice_orchestrator.providers.base import ChatProvider, Generation, GenerationRequest
from alice_orchestrator.providers.fake import FakeProvider
from alice_orchestrator.providers.registry import (
    ModelRegistry,
    ServedModel,
    UnknownModel,
    default_model,
    extra_models,
)
from alice_orchestrator.settings import Settings
from pydantic import ValidationError

SECOND = {"name": "org/second-7b", "base_url": "http://127.0.0.1:8091/v1", "context_tokens": 4096}


def settings_with(models, **values) -> Settings:
    return Settings(llm_provider="fake", llm_models=models, **values)


# -- the setting -------------------------------------------------------------------------------


def test_no_extra_models_by_default():
    assert Settings().llm_models == []


def test_the_setting_is_a_json_list_in_the_environment(monkeypatch):
    monkeypatch.setenv("LLM_MODELS", json.dumps([SECOND | {"max_tokens": 300, "api_key_env": "SECOND_KEY"}]))
    (model,) = Settings().llm_models
    assert (model.name, model.base_url, model.context_tokens, model.max_tokens) == (
        "org/second-7b", "http://127.0.0.1:8091/v1", 4096, 300,
    )  # fmt: skip
    assert model.api_key_env == "SECOND_KEY"


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        (SECOND | {"base_url": "ftp://host/v1"}, "http:// or https://"),
        (SECOND | {"base_url": "http:///v1"}, "with a host"),
        (SECOND | {"base_url": "https://user:pw@host/v1"}, "credentials"),
        (SECOND | {"name": "has space"}, "name"),
        (SECOND | {"name": ""}, "name"),
        (SECOND | {"context_tokens": 100}, "context_tokens"),
        (SECOND | {"max_tokens": 2049}, "at most half of context_tokens"),
        (SECOND | {"max_tokens": 0}, "max_tokens"),
        (SECOND | {"api_key_env": "sk-the-key-itself"}, "api_key_env"),
        (SECOND | {"api_key": "inline"}, "api_key"),
        ({"name": "x", "base_url": "http://h/v1"}, "context_tokens"),
    ],
)
def test_a_bad_entry_is_refused_naming_what_is_wrong(entry, complaint):
    with pytest.raises(ValidationError, match=complaint):
        settings_with([entry])


def test_names_must_be_unique():
    with pytest.raises(ValidationError, match="unique; repeated: org/second-7b"):
        settings_with([SECOND, SECOND | {"base_url": "http://127.0.0.1:8092/v1"}])


# -- the registry ------------------------------------------------------------------------------


def test_the_default_is_the_built_in_model_with_todays_limits_and_comes_first():
    settings = settings_with([SECOND], llm_context_tokens=2048, llm_max_tokens=200)
    models = ModelRegistry(default_model(settings, FakeProvider()), extra_models(settings))
    assert [(m.name, m.context_tokens, m.max_tokens, m.max_tokens_limit) for m in models] == [
        ("fake", 2048, 200, 1024),
        ("org/second-7b", 4096, 256, 2048),
    ]
    assert models.get(None) is models.default and models.get("fake") is models.default
    assert models.get("org/second-7b").provider.model == "org/second-7b"


def test_an_unknown_name_is_a_clear_error():
    models = ModelRegistry(default_model(Settings(), FakeProvider()))
    with pytest.raises(UnknownModel, match="'nope' is not served here"):
        models.get("nope")


def test_an_extra_model_may_not_take_the_default_models_name():
    settings = settings_with([SECOND | {"name": "fake"}])
    with pytest.raises(ValueError, match="'fake' twice or as the default model's name"):
        ModelRegistry(default_model(settings, FakeProvider()), extra_models(settings))


async def test_an_extra_model_talks_to_its_endpoint_with_the_key_its_variable_holds():
    settings = settings_with([SECOND | {"api_key_env": "SECOND_KEY"}])
    (served,) = extra_models(settings, environ={"SECOND_KEY": "sk-second"})
    # The request the provider sends for a reply (`OpenAICompatProvider._deltas`).
    sent = served.provider._client.build_request("POST", "/chat/completions")
    assert str(sent.url) == "http://127.0.0.1:8091/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer sk-second"
    await served.provider.close()


def test_a_missing_key_variable_stops_the_start_naming_it():
    settings = settings_with([SECOND | {"api_key_env": "SECOND_KEY"}])
    with pytest.raises(ValueError, match="SECOND_KEY, which is not set"):
        extra_models(settings, environ={})


# -- the chat path -----------------------------------------------------------------------------


class MemoryRedis:
    """Streams and key existence, enough for a stateless completion's reply stream."""

    def __init__(self) -> None:
        self.streams: dict[str, list[tuple[str, dict]]] = {}

    async def xadd(self, key: str, fields: dict) -> str:
        entries = self.streams.setdefault(key, [])
        entries.append((f"{len(entries) + 1}-0", fields))
        return entries[-1][0]

    async def xrevrange(self, key: str, count: int | None = None) -> list[tuple[str, dict]]:
        return list(reversed(self.streams.get(key, [])))[:count]

    async def exists(self, *keys: str) -> int:
        return sum(key in self.streams for key in keys)

    async def zrem(self, key: str, *members: str) -> int:
        return 0

    async def expire(self, key: str, seconds: int) -> bool:
        return True

    @asynccontextmanager
    async def pipeline(self, transaction: bool = True):
        redis, calls = self, []

        class Pipeline:
            def __getattr__(self, name):
                return lambda *args: calls.append((name, args))

            async def execute(self):
                return [await getattr(redis, name)(*args) for name, args in calls]

        yield Pipeline()

    def events(self, reply_id: str) -> list[tuple[str, dict]]:
        return [(f["event"], json.loads(f["data"])) for _, f in self.streams.get(f"reply:{reply_id}", [])]


class Scripted(ChatProvider):
    """A model that always says the same, and counts its requests."""

    def __init__(self, model: str, text: str):
        self.model, self.text, self.requests = model, text, []

    async def _deltas(self, generation: Generation, request: GenerationRequest):
        self.requests.append(request)
        generation.completion_tokens = 1
        yield self.text


def completion(reply_id: str, model: str | None) -> ChatRequested:
    return ChatRequested(
        conversation_id=reply_id, user_id="u1", message_id="m1", reply_id=reply_id, content="",
        completion=CompletionRequest(messages=[{"role": "user", "content": "Hi"}]), model=model,
    )  # fmt: skip


@pytest.fixture
def chat():
    settings = Settings(llm_provider="fake", token_flush_interval_ms=0)
    default, second = Scripted("fake", "from the default"), Scripted("org/second-7b", "from the second")
    models = ModelRegistry(default_model(settings, default), [ServedModel("org/second-7b", second, 4096, 77)])
    redis = MemoryRedis()
    return ChatHandler(settings, store=None, redis=redis, models=models, publish=None), redis, default, second


async def test_a_completion_is_answered_by_the_model_it_names(chat):
    handler, redis, default, second = chat
    await handler.handle(completion("a0000001", "org/second-7b"))
    events = redis.events("a0000001")
    assert [d["delta"] for k, d in events if k == TOKEN] == ["from the second"]
    assert events[-1][0] == DONE and events[-1][1]["message"]["model"] == "org/second-7b"
    # Its own default reply length, not the built-in model's.
    assert [r.max_tokens for r in second.requests] == [77] and default.requests == []


async def test_a_completion_naming_no_model_is_answered_by_the_default(chat):
    handler, redis, default, second = chat
    await handler.handle(completion("a0000002", None))
    assert redis.events("a0000002")[-1][1]["message"]["model"] == "fake"
    assert len(default.requests) == 1 and second.requests == []


async def test_an_unknown_model_fails_the_reply_once_and_generates_nothing(chat):
    handler, redis, default, second = chat
    await handler.handle(completion("a0000003", "removed-model"))  # returns: nothing to retry
    assert redis.events("a0000003") == [
        (FAILED, {"code": "model_not_found", "message": "The model 'removed-model' is not served any more."})
    ]
    await handler.handle(completion("a0000003", "removed-model"))  # redelivered: ended already
    assert len(redis.events("a0000003")) == 1
    assert default.requests == [] and second.requests == []
