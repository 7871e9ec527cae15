"""Servers on 127.0.0.1 that notifications are delivered to in the tests: an HTTP server
that keeps each request (Apprise's ``json://`` and ``ntfy://`` post to it), and an SMTP
server (aiosmtpd) that keeps each mail (``mailto://``). Tests wait on what arrives."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Received:
    """What a server received, in order, with a wait for more."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._arrived = threading.Condition()

    def add(self, item: dict[str, Any]) -> None:
        with self._arrived:
            self.items.append(item)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"{len(self.items)} of {count} notifications in {timeout} s")
            return list(self.items)


class HttpReceiver(Received):
    """``json://127.0.0.1:PORT/path``: each request's path, headers and body (JSON when it
    is). ``status`` is what it answers (500: a failing service)."""

    def __init__(self) -> None:
        super().__init__()
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    parsed: Any = json.loads(body)
                except ValueError:
                    parsed = body.decode("utf-8", "replace")
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                receiver.add({"path": self.path, "headers": dict(self.headers), "body": parsed})

            do_PUT = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, scheme: str = "json", path: str = "hook") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver(Received):
    """``mailto://``: each mail's subject and body, from aiosmtpd on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__()
        from aiosmtpd.controller import Controller

        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                mail = message_from_bytes(envelope.content)
                part = mail.get_payload(0) if mail.is_multipart() else mail
                text = part.get_payload(decode=True).decode("utf-8", "replace")
                receiver.add({"subject": mail["Subject"], "body": text, "to": envelope.rcpt_tos})
                return "250 OK"

        with socket.socket() as probe:  # aiosmtpd needs a port it can name
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self) -> str:
        return (
            f"mailto://127.0.0.1:{self.port}?from=jobs@example.com&to=me@example.com&mode=insecure"
        )

    def close(self) -> None:
        self.controller.stop()
