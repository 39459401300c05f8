"""Run a service's FastAPI app under uvicorn with the shared logging setup."""

import uvicorn
from fastapi import FastAPI

from alice_common.logging import configure_logging
from alice_common.settings import AliceSettings

# How long a service keeps an idle connection open (uvicorn's default, named): our HTTP clients
# let go of one sooner (`clients.IDLE_CONNECTION_S`).
KEEP_ALIVE_S = 5


def serve(app: FastAPI, settings: AliceSettings, forwarded_allow_ips: str = "127.0.0.1") -> None:
    """`forwarded_allow_ips`: the proxies whose X-Forwarded-For names the client (addresses or
    networks, comma-separated); from anyone else the header is ignored."""
    configure_logging(settings.service_name, settings.log_level)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
