"""A bad link between an upload client and the tracker: a TCP proxy on 127.0.0.1.

It throttles what the client sends (one shared rate, as one ranger station's line), can cut
every open connection when a given count of PATCH body bytes has passed and then refuse new
ones for a while (the link drops, then comes back), and counts the bytes of the PATCH bodies it
forwarded (the card's data). A card of N bytes that arrives after K cuts has been sent
`body_bytes - N` bytes more than once: the parts of the chunks in flight when the link dropped.

Used by tests/test_uploads.py and bench/upload.py. HTTP/1.1 requests are parsed only far enough
to tell headers from bodies (Content-Length; tus clients never send chunked bodies).
"""

from __future__ import annotations

import asyncio
import threading
import time

PIECE = 16 * 1024


class _BodyMeter:
    """Follows one connection's requests: how many of the bytes fed are a PATCH's body (a tus
    upload's data; the few bytes of a form's POST are not the card)."""

    def __init__(self) -> None:
        self.head = b""
        self.body_left = 0
        self.counting = False

    def feed(self, data: bytes) -> int:
        body = 0
        while data:
            if self.body_left:
                n = min(self.body_left, len(data))
                self.body_left -= n
                body += n if self.counting else 0
                data = data[n:]
                continue
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return body
            head, data = self.head[:end], self.head[end + 4 :]
            self.head = b""
            self.body_left = _content_length(head)
            self.counting = head.startswith(b"PATCH ")
        return body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


class LinkProxy:
    """Client -> 127.0.0.1:`port` -> 127.0.0.1:`upstream`, throttled to `rate` bytes/s (None:
    as fast as it goes), cut after each count of body bytes in `cut_at`, down `down_seconds`
    after each cut."""

    def __init__(self, upstream: int, rate: float | None = None, cut_at=(), down_seconds=1.0):
        self.upstream, self.rate = upstream, rate
        self.cut_at = sorted(cut_at)
        self.down_seconds = down_seconds
        self.body_bytes = 0
        self.cuts = 0
        self.port = 0
        self._free_at = 0.0
        self._down_until = 0.0
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="link-proxy")

    def __enter__(self) -> LinkProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        for writer in list(self._open):
            writer.transport.abort()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _connection(self, client_in, client_out) -> None:
        if time.monotonic() < self._down_until:
            client_out.transport.abort()  # the link is down: nothing gets through
            return
        server_in, server_out = await asyncio.open_connection("127.0.0.1", self.upstream)
        self._open |= {client_out, server_out}
        pipes = [
            asyncio.ensure_future(self._send(client_in, server_out)),
            asyncio.ensure_future(self._pipe(server_in, client_out)),
        ]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the proxy is stopping
        finally:
            for pipe in pipes:
                pipe.cancel()
            for writer in (client_out, server_out):
                self._open.discard(writer)
                writer.transport.abort()

    async def _send(self, reader, writer) -> None:
        """Client to server: throttled, metered, cut where told."""
        meter = _BodyMeter()
        while data := await reader.read(PIECE):
            await self._throttle(len(data))
            writer.write(data)
            self.body_bytes += meter.feed(data)
            await writer.drain()
            if self.cut_at and self.body_bytes >= self.cut_at[0]:
                self.cut_at.pop(0)
                self._cut()
                return

    async def _throttle(self, size: int) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        start = max(now, self._free_at)
        self._free_at = start + size / self.rate
        if start > now:
            await asyncio.sleep(start - now)

    def _cut(self) -> None:
        self.cuts += 1
        self._down_until = time.monotonic() + self.down_seconds
        for writer in list(self._open):
            writer.transport.abort()

    @staticmethod
    async def _pipe(reader, writer) -> None:
        while data := await reader.read(PIECE):
            writer.write(data)
            await writer.drain()
