"""Our HTTP clients let go of an idle connection well before the server closes it: at equal times
a request sent as the server closes is lost with the connection, and nothing tells whether the
server received it (alice_common.clients.IDLE_CONNECTION_S)."""

import asyncio

import httpx
from alice_common.clients import IDLE_CONNECTION_S, http_limits
from alice_common.server import KEEP_ALIVE_S


def test_clients_let_go_of_idle_connections_well_before_servers_close_them():
    assert IDLE_CONNECTION_S <= KEEP_ALIVE_S / 2


async def test_a_request_after_the_idle_time_opens_a_new_connection():
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except asyncio.IncompleteReadError:  # the client closed it
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=http_limits()) as client:
        await client.get("/")
        await client.get("/")
        assert connections == 1  # reused while fresh
        await asyncio.sleep(IDLE_CONNECTION_S + 0.3)
        await client.get("/")
        assert connections == 2  # not reused once idle for longer
    server.close()
