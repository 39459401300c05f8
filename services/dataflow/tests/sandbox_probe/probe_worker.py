"""Stands in for the extraction worker in test_sandbox_isolation: reports, as the worker's JSON
answer, what a parser running in the sandbox child could reach."""

import json
import os
import socket
import sys

if __name__ == "__main__":
    port = json.loads(sys.stdin.buffer.read() or b"{}").get("port")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        network = "reached"
    except OSError as exc:
        network = f"refused: {exc}"
    json.dump({"chunks": [json.dumps({"env": dict(os.environ), "network": network})]}, sys.stdout)
