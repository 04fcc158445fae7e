"""A TCP server that plays a device: serial readers and GNSS receivers (pyserial's socket://)
and gpsd. The real drivers connect to it as they would to the device."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

CONNECT_TIMEOUT_S = 5


class ByteServer:
    """Accepts one connection; `send` writes to it; `received` keeps what the client wrote."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._connected = threading.Event()
        self._client: socket.socket | None = None
        self.received = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            self._client, _ = self._listener.accept()
        except OSError:
            return
        self._connected.set()
        while True:
            try:
                data = self._client.recv(4096)
            except OSError:
                return
            if not data:
                return
            self.received += data

    def send(self, data: bytes) -> None:
        assert self._connected.wait(CONNECT_TIMEOUT_S), "the driver never connected"
        assert self._client is not None
        self._client.sendall(data)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._listener.close()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"


@contextmanager
def byte_server() -> Iterator[ByteServer]:
    server = ByteServer()
    try:
        yield server
    finally:
        server.close()
