"""Chat model providers behind one streaming interface (see `base.py`)."""

from alice_orchestrator.providers.base import ChatProvider, Generation, ProviderError
from alice_orchestrator.settings import Settings

__all__ = ["ChatProvider", "Generation", "ProviderError", "make_provider"]


def make_provider(settings: Settings) -> ChatProvider:
    if settings.llm_provider == "openai":
        from alice_orchestrator.providers.openai_compat import OpenAICompatProvider

        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return OpenAICompatProvider(settings.llm_base_url, settings.llm_model, key, settings.llm_timeout_s)
    if settings.llm_provider == "inference":
        from alice_orchestrator.providers.inference import InferenceProvider

        return InferenceProvider(settings.inference_url, settings.llm_model, settings.llm_timeout_s)
    if settings.llm_provider == "fake":
        from alice_orchestrator.providers.fake import FakeProvider

        return FakeProvider(settings.llm_fake_ttft_ms, settings.llm_fake_token_interval_ms)
    from alice_orchestrator.providers.local import LocalProvider

    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise ProviderError(
            "LLM_PROVIDER=local runs the model in process, which needs the orchestrator's `local` "
            "extra (llama-cpp-python); the images serve it from the inference service instead "
            "(LLM_PROVIDER=inference)"
        ) from exc
    return LocalProvider(
        settings.llm_model_path,
        threads=settings.llm_threads,
        concurrency=settings.llm_local_concurrency,
        n_ctx=settings.llm_context_tokens,
    )
