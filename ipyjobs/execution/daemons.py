"""What ipyjobs' own threads (followers, the collector, updaters, samplers, stop ladders)
do with an error nothing in them foresaw: one line on the "ipyjobs" logger, never a
thread's traceback printed into whichever cell runs, and never a dead thread that a job
waits on for good (DESIGN §14). Each such thread's main function is ``guarded``; one
whose death would leave a job or a view waiting also says what to do then."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

log = logging.getLogger("ipyjobs")

F = TypeVar("F", bound=Callable[..., Any])


def report(what: str, error: BaseException) -> None:
    """The one line an unforeseen error in ``what`` gets."""
    log.error(
        "ipyjobs: %s met an error it did not expect: %s: %s", what, type(error).__name__, error
    )


def guarded(what: str, then: Callable[..., Any] | None = None) -> Callable[[F], F]:
    """Run a thread's main function so that an ``Exception`` it did not foresee is
    ``report``ed, and then ``then(*args, error)`` (given the function's own arguments)
    puts right what its end would leave: a job ended, a thread to be started again."""

    def wrap(main: F) -> F:
        @functools.wraps(main)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return main(*args, **kwargs)
            except Exception as error:
                report(what, error)
                if then is not None:
                    try:
                        then(*args, error)
                    except Exception as second:
                        report(what, second)
                return None

        return cast(F, run)

    return wrap


def forget_thread(lock: str = "_lock") -> Callable[[Any, BaseException], None]:
    """A ``then`` for a thread its owner starts on demand (``owner._thread``): forget it,
    under the owner's ``lock``, so that the owner's next use starts another."""

    def forget(owner: Any, error: BaseException) -> None:
        with getattr(owner, lock):
            owner._thread = None

    return forget
