"""Run a service's FastAPI app under uvicorn with the shared logging setup."""

import uvicorn
from fastapi import FastAPI

from alice_common.logging import configure_logging
from alice_common.settings import AliceSettings


def serve(app: FastAPI, settings: AliceSettings) -> None:
    configure_logging(settings.service_name, settings.log_level)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
