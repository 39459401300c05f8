from aiokafka.errors import KafkaConnectionError
from alice_kafkaflow.errors import ApiError, install_error_handlers
from fastapi import FastAPI
from fastapi.testclient import TestClient


def _client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/kafka-down")
    async def kafka_down() -> None:
        raise KafkaConnectionError("broker gone")

    @app.get("/missing")
    async def missing() -> None:
        raise ApiError(404, "dlq_not_found", "no such DLQ")

    return TestClient(app)


def test_kafka_failures_are_a_json_503_not_a_500():
    response = _client().get("/kafka-down")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "kafka_unavailable"


def test_api_errors_and_unknown_routes_share_the_json_shape():
    client = _client()
    assert client.get("/missing").json() == {"error": {"code": "dlq_not_found", "message": "no such DLQ"}}
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
