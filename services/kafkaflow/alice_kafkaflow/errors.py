"""kafkaflow's errors: the shared JSON error shape (`alice_common.errors`), plus Kafka outages as 503."""

from aiokafka.errors import KafkaError
from alice_common import errors
from alice_common.errors import ApiError, error_json
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

__all__ = ["ApiError", "install_error_handlers"]


def install_error_handlers(app: FastAPI) -> None:
    errors.install_error_handlers(app)

    @app.exception_handler(KafkaError)
    async def kafka_error(_: Request, exc: KafkaError) -> JSONResponse:
        return error_json(503, "kafka_unavailable", f"Kafka did not answer: {type(exc).__name__}")
