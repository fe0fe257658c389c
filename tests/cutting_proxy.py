"""A TCP proxy that loses a connection the way a network can: after a
message reached the server and before the server's answer came back.

Put between mockserver and its PostgreSQL, it passes everything through
until :meth:`CuttingProxy.cut_after` arms it with a marker (a value the
next write carries as a parameter): the first message from mockserver that
holds it is passed on, the server's answer is dropped, and once the server
has had time to run (and commit) the write both ends are closed. The
server did the write; mockserver never heard.
"""

import contextlib
import socket
import threading
import time
from types import TracebackType

# Time the server gets to run and commit the write before the connection goes.
SERVER_TIME_S = 0.3


class CuttingProxy:
    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._marker: bytes | None = None
        self._lock = threading.Lock()
        # Set once a connection was cut.
        self.cut = threading.Event()
        self._closing = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url_of(self, url: str) -> str:
        """A PostgreSQL URL of the target server, through this proxy."""
        return url.replace(f":{self._target_port}/", f":{self.port}/", 1)

    def cut_after(self, marker: bytes) -> None:
        with self._lock:
            self._marker = marker
        self.cut.clear()

    def _take_marker(self, data: bytes) -> bool:
        with self._lock:
            if self._marker is None or self._marker not in data:
                return False
            self._marker = None
            return True

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target_port))
            self._sockets += [client, server]
            muted = threading.Event()
            threading.Thread(target=self._up, args=(client, server, muted), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, muted), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, muted: threading.Event) -> None:
        """mockserver to PostgreSQL: the marked message passes, then the cut."""
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self._take_marker(data):
                    muted.set()  # before it is sent: its answer must not get through
                    server.sendall(data)
                    time.sleep(SERVER_TIME_S)
                    break
                server.sendall(data)
        for end in (client, server):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
        if muted.is_set():
            self.cut.set()

    def _down(self, server: socket.socket, client: socket.socket, muted: threading.Event) -> None:
        """PostgreSQL to mockserver, unless muted."""
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if not muted.is_set():
                    client.sendall(data)

    def close(self) -> None:
        self._closing = True
        self._listener.close()
        for end in self._sockets:
            with contextlib.suppress(OSError):
                end.close()

    def __enter__(self) -> "CuttingProxy":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
