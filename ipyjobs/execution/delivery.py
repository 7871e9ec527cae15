"""Sending notifications with Apprise (DESIGN §13), off every thread that matters.

Apprise speaks ntfy, Slack, email, Discord, Telegram, JSON webhooks and the desktop's
notifications by URL; ipyjobs writes none of these protocols. It is the optional extra
``ipyjobs[notify]`` and imported only when a notification is asked for.

The kernel's notifications go through one ``Deliverer`` thread per manager, so neither a
job's thread nor the kernel's waits for a slow or dead service; what it cannot deliver is
logged once per URL on the "ipyjobs" logger and forgotten. A URL carries tokens: only
``masked(url)`` is ever shown.
"""

from __future__ import annotations

import logging
import queue
import threading
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

from ..model.errors import NotifyError
from ..model.notification import Notification
from .daemons import guarded

log = logging.getLogger("ipyjobs")
INSTALL = "notifications need Apprise: pip install 'ipyjobs[notify]'"


def apprise() -> Any:
    try:
        import apprise as module
    except ImportError:
        raise NotifyError(INSTALL) from None
    return module


def masked(url: object) -> str:
    """The URL as it may be shown: its scheme and host as Apprise masks them (a password,
    or a token where the host would be, cut to its ends), and no path or query, where
    webhooks keep their tokens; else its scheme alone."""
    text = str(url)
    try:
        plugin = apprise().Apprise.instantiate(text, suppress_exceptions=True)
    except NotifyError:
        plugin = None
    scheme = urllib.parse.urlsplit(text).scheme
    if plugin is None:
        return f"{scheme}://…" if scheme else "…"
    private = urllib.parse.urlsplit(str(plugin.url(privacy=True)))
    rest = "/…" if private.path.strip("/") or private.query else ""
    return f"{scheme}://{private.netloc}{rest}"


class SecretURL(str):
    """A notification URL that shows masked wherever Python shows a value: a repr, a
    list of them, ``%config JobManager``, a traceback's locals. Its ``str`` is the URL."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(masked(str(self)))


def check_urls(urls: Iterable[object]) -> list[str]:
    """The URLs, each one Apprise can read; else a ``NotifyError`` naming the first that
    it cannot (masked)."""
    module = apprise()
    checked: list[str] = []
    for url in urls:
        if not isinstance(url, str):
            raise NotifyError(f"a notification URL is a str, not {type(url).__name__}")
        if module.Apprise.instantiate(url, suppress_exceptions=True) is None:
            raise NotifyError(
                f"Apprise cannot read the notification URL {masked(url)} (its forms: "
                "https://github.com/caronc/apprise/wiki)"
            )
        checked.append(SecretURL(url))
    if not checked:
        raise NotifyError(
            "no notification URL: give one (notify='ntfy://...') or set c.JobManager.notify_urls"
        )
    return checked


def send(urls: Sequence[str], notification: Notification) -> list[str]:
    """Send now, to each URL; the (masked) URLs it could not deliver to."""
    module = apprise()
    failed = []
    for url in urls:
        sender = module.Apprise()
        sender.add(url)
        try:
            delivered = bool(
                sender.notify(
                    body=notification.body,
                    title=notification.title,
                    notify_type=notification.kind,
                )
            )
        except Exception:  # a service's library failing is one more failed delivery
            delivered = False
        if not delivered:
            failed.append(masked(url))
    return failed


class Deliverer:
    """One thread that sends what it is given, in order, and is gone when idle."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[list[str], Notification] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._told: set[str] = set()  # URLs whose failure was logged
        #: Called after each notification was tried, with the URLs that failed (tests).
        self.sent = threading.Condition()
        self.count = 0

    def post(self, urls: list[str], notification: Notification) -> None:
        self._queue.put((urls, notification))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name="ipyjobs-notify", daemon=True
                )
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (waiting at most ``timeout`` seconds), then end the
        thread: a job that ended just before its kernel still tells its user."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    @guarded("the notification sender")
    def _main(self) -> None:
        while True:
            try:
                taken = self._queue.get(timeout=5.0)
            except queue.Empty:
                taken = None
            if taken is None:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            urls, notification = taken
            for url in send(urls, notification):
                if url not in self._told:
                    self._told.add(url)
                    log.warning(
                        "ipyjobs: a notification could not be delivered to %s (%r); "
                        "later failures there are not logged",
                        url,
                        notification.title,
                    )
            with self.sent:
                self.count += 1
                self.sent.notify_all()
