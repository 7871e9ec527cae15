"""The comm a job widget's front end opens to reach the kernel while it is busy.

ipykernel (>= 7) handles a comm the *front end* opens on a subshell thread when JupyterLab
(>= 4.4) or Notebook (>= 7.4) puts it on one, so a click is handled while the main shell
runs a cell; without subshells it is handled when the kernel is idle, as any comm
(DESIGN §12, docs/decisions.md). One target, ``ipyjobs.control``, serves every widget: a
request names the widget by the ``key`` its model carries, and the reply names the
request. Requests are handled beside the running cell, so what they call (the manager, a
job) is safe from two threads, and a widget's actions hold its own lock.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Protocol

TARGET = "ipyjobs.control"


class Actor(Protocol):
    def act(self, request: dict[str, Any]) -> str:
        """Do what ``request`` asks (``action``: stop, receive, remove or send); return
        what to say to the user, or ""."""


_actors: weakref.WeakValueDictionary[str, Actor] = weakref.WeakValueDictionary()
_lock = threading.Lock()
_registered: weakref.WeakSet[Any] = weakref.WeakSet()  # comm managers with the target


def register(key: str, actor: Actor) -> None:
    with _lock:
        _actors[key] = actor
    open_target()


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The reply to one request: ``{"request": its id, "message": what to say}``."""
    with _lock:
        actor = _actors.get(str(request.get("key")))
    if actor is None:
        message = "this widget is gone (its kernel restarted, or it was closed): show the job again"
    else:
        try:
            message = actor.act(request)
        except Exception as error:  # a click never raises into the kernel's log
            message = f"{type(error).__name__}: {error}"
    return {"request": request.get("request"), "message": message}


def _opened(comm: Any, _: dict[str, Any]) -> None:
    @comm.on_msg
    def _asked(msg: dict[str, Any]) -> None:
        data = msg["content"]["data"]
        if isinstance(data, dict):
            comm.send(answer(data))  # from inside the handler: the reply takes its route


def _comm_manager() -> Any:
    from IPython.core.getipython import get_ipython

    shell = get_ipython()
    return getattr(getattr(shell, "kernel", None), "comm_manager", None)


def open_target() -> None:
    """Register the target in this kernel's comm manager (once; nothing outside a kernel)."""
    manager = _comm_manager()
    if manager is None:
        return
    with _lock:
        if manager in _registered:
            return
        manager.register_target(TARGET, _opened)
        _registered.add(manager)


def close_target() -> None:
    manager = _comm_manager()
    with _lock:
        if manager is not None and manager in _registered:
            manager.unregister_target(TARGET, _opened)
            _registered.discard(manager)
