"""A TCP proxy on loopback that can reset connections: the transport faults an HTTP app
cannot make itself (a peer or a middlebox that drops the connection with an RST)."""

from __future__ import annotations

import selectors
import socket
import struct
import threading


class ResettingProxy:
    """Forwards 127.0.0.1:<port> to `target`. `reset_next(n)`: the next n requests (the
    next n times a client sends on any connection) are answered with a TCP reset."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.resets_planned = 0
        self.resets_done = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def reset_next(self, n: int = 1) -> None:
        with self._lock:
            self.resets_planned += n

    def __enter__(self) -> ResettingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(timeout=5)

    def _take_reset(self) -> bool:
        with self._lock:
            if self.resets_planned > 0:
                self.resets_planned -= 1
                self.resets_done += 1
                return True
            return False

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    @staticmethod
    def _rst(sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST, not FIN
        sock.close()

    def _pump(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    src, dst = key.fileobj, key.data
                    data = src.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    if src is client and self._take_reset():
                        self._rst(client)
                        return
                    dst.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            for s in (client, upstream):
                try:
                    s.close()
                except OSError:
                    pass


class AnswerRewriter:
    """ASGI wrapper: the wrapped peer handles each request as usual (and applies it), then the
    next queued rewrite, if any, changes the body of its answer before the client sees it.
    The answers a real peer's stack may give that the hub must read leniently, or not at all."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app
        self.rewrites: list = []
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        rewrite = None
        if scope["type"] == "http" and scope["method"] == "POST":
            with self._lock:
                rewrite = self.rewrites.pop(0) if self.rewrites else None
        if rewrite is None:
            await self.app(scope, receive, send)
        else:
            await self._rewritten(scope, receive, send, rewrite)

    async def _rewritten(self, scope, receive, send, rewrite) -> None:  # noqa: ANN001
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = rewrite(b"".join(chunks))
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
        await send({"type": "http.response.body", "body": body})
