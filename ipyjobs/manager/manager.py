"""The JobManager: configuration, the repository and the backends behind the job API."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from ..backends import Backend, StartRequest, create_backend
from ..backends.store import JobStore
from ..execution import capture
from ..execution import host as hosts
from ..execution.collector import Collector
from ..execution.resources import ResourceSampler
from ..model.controls import Runner
from ..model.errors import JobArgumentError, JobStateError, JobTimeoutError
from ..model.family import walk
from ..model.job import Job
from ..model.records import Stream
from ..model.repository import JobRepository, filter_jobs
from ..model.state import JobState
from ..model.waiting import check_timeout, wait_jobs
from . import notifying
from .controls import for_working_children, refuse_held_elsewhere, request_stop, wait_finished
from .deadlines import Deadlines
from .detached_jobs import DetachedJobs
from .fanout import FanOut, fan_out_items, make_fan_out
from .receiving import ReceiveOptions, receive
from .settings import ManagerSettings
from .starting import (
    call_work_of,
    check_code_call,
    check_code_options,
    check_name,
    choose_backend,
    code_work_of,
    make_family,
    script_work_of,
)


def _outlives_manager(job: Job) -> bool:
    """A detached job: its children's backend lets them run when the manager ends."""
    return any(getattr(child.runner, "outlives_manager", False) for child in job.child_jobs)


class JobManager(ManagerSettings):
    """Owns the jobs of a session. Configure it as ``c.JobManager.<trait>`` in
    ``ipython_config.py`` or with ``%config JobManager.<trait> = value`` (the settings
    are in ``manager/settings.py``)."""

    def __init__(self, *, host: hosts.Host | None = None, **kwargs: Any) -> None:
        """``host``: what the manager takes from the shell it runs in (see ``host``); by
        default the package's, which follows a running IPython shell."""
        super().__init__(**kwargs)
        self.host = host if host is not None else hosts.default()
        self.repository = JobRepository()
        self.collector = Collector()
        self._backends: dict[str, Backend] = {}
        self._capturing = False
        self.detached = DetachedJobs(self)
        #: Called with each new parent job (terminal notices, widgets).
        self.start_listeners: list[Callable[[Job], None]] = []
        #: Called with each job that was received or removed (widgets).
        self.change_listeners: list[Callable[[Job], None]] = []
        #: Called with each child a lazy fan-out adds to a listed parent (widgets).
        self.child_listeners: list[Callable[[Job], None]] = []
        self.deadlines = Deadlines(self._job_overran)
        self.sampler = ResourceSampler()
        self._fan_outs: dict[int, FanOut] = {}
        self.notifier = notifying.Notifier()

    # -- starting -------------------------------------------------------------------------
    def start_job(
        self,
        target: Callable[..., Any] | str | None = None,
        /,
        *call_args: Any,
        name: str | None = None,
        backend: str | None = None,
        engines: Any = None,
        workers: Any = None,
        cwd: str | None = None,
        using: Iterable[str] | None = None,
        detach: bool = False,
        each: Iterable[Any] | None = None,
        throttle: int | None = None,
        timeout: float | None = None,
        notify: Any = None,
        file_path: str | os.PathLike[str] | None = None,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **more_kwargs: Any,
    ) -> Job:
        """Start-Job: run ``target`` (a callable, or IPython code as a string) in the
        background and return its parent Job at once.

        ``backend`` is ``"thread"`` (default), ``"process"``, ``"engines"`` or ``"dask"``.
        ``engines`` (``"all"``, ``"any"``, an id or ids, implying ``"engines"``) runs one
        child job per ipyparallel engine. ``workers`` (``"any"``, ``"all"``, or worker
        names or addresses, implying ``"dask"``) places a Dask job's children on the
        cluster of ``dask_address`` or ``dask_client``. ``cwd`` is the working directory
        of a process, engine or Dask job; ``using`` names what a code job copies into
        it. ``detach=True`` starts a process job that outlives the kernel, listed in the
        job store.

        ``each=items`` makes one child per item, calling ``target(item, *args)``, at most
        ``throttle`` at once (default: no limit for threads, the CPU count for processes,
        the engines for remote jobs). ``timeout`` seconds: a job still running then is
        stopped and ends Failed with a ``JobTimeoutError`` (per child, from its start).
        ``notify``: a notification URL (Apprise's syntax), a list of them, or True for
        ``notify_urls``, told when the job ends or waits for input (``notify_events``);
        False: not even with ``notify_all`` (DESIGN §13).
        ``file_path`` (with ``args``) runs a Python script as ``__main__``, in a process
        unless a backend is named. ``args`` and ``kwargs`` are the target's arguments,
        for those that share a name with these keywords; further keywords go to it too."""
        if file_path is not None:
            work, command = script_work_of(
                target, call_args, kwargs, more_kwargs, each, file_path, args
            )
            backend = backend or "process"
        elif isinstance(target, str):
            check_code_call(call_args, args, kwargs, more_kwargs, each)
            return self.start_code(
                target,
                name=name,
                backend=backend,
                engines=engines,
                workers=workers,
                cwd=cwd,
                using=using,
                detach=detach,
                throttle=throttle,
                timeout=timeout,
                notify=notify,
            )
        else:
            check_name(name)
            work, command = call_work_of(target, call_args, args, kwargs, more_kwargs, each)
        request = StartRequest(
            work, command, name, engines, cwd, list(using or []), detach, workers=workers
        )
        return self._start(request, backend, each, throttle, timeout, notify)

    def start_code(
        self,
        source: str,
        *,
        name: str | None = None,
        backend: str | None = None,
        engines: Any = None,
        workers: Any = None,
        cwd: str | None = None,
        using: Iterable[str] | None = None,
        snapshot_of: Mapping[str, Any] | None = None,
        detach: bool = False,
        source_name: str | None = None,
        first_line: int = 1,
        each: Iterable[Any] | None = None,
        each_name: str | None = None,
        throttle: int | None = None,
        timeout: float | None = None,
        notify: Any = None,
    ) -> Job:
        """Start IPython code in the live user namespace (``__main__``'s outside IPython),
        or, with ``snapshot_of``, in a copy of the names the code reads, taken now from
        that mapping and then the user namespace (what ``stmt &`` does, as ``$using:``).
        ``source_name`` and ``first_line`` name the code's place in tracebacks (``%%job``
        gives its cell's, ``Cell In[5]`` from line 2). ``each`` and ``each_name``: one
        child per item, the code reading the item as ``each_name`` (``%job_start
        --each``); ``throttle``, ``timeout`` and ``notify`` as for ``start_job``."""
        check_code_options(source, each, each_name, first_line)
        check_name(name)
        work = code_work_of(source, self.host, snapshot_of, source_name, first_line, each_name)
        request = StartRequest(
            work,
            source.strip("\n"),
            name,
            engines,
            cwd,
            list(using or []),
            detach,
            each_name=each_name,
            workers=workers,
        )
        return self._start(request, backend, each, throttle, timeout, notify)

    def _start(
        self,
        request: StartRequest,
        backend: str | None,
        each: Iterable[Any] | None = None,
        throttle: int | None = None,
        timeout: float | None = None,
        notify: Any = None,
    ) -> Job:
        backend = choose_backend(request, backend, each, throttle, timeout)
        runner = self.backend(backend or self.default_backend)
        items = fan_out_items(each, throttle) if each is not None else None
        request.notify = notifying.plan(self, notify)
        runner.check(request)
        outlives = getattr(runner, "outlives_manager", False)
        if items is not None:
            parent, fan_out = make_fan_out(self, request, runner, items, throttle, timeout)
            self._fan_outs[parent.id] = fan_out
            parent.add_state_callback(self._fan_out_ended)
            if request.notify is not None:
                self.notifier.watch(parent, request.notify, outlives)
            return self._launch(parent, fan_out.start)
        parent = make_family(self, request, runner, timeout)
        if request.notify is not None:
            self.notifier.watch(parent, request.notify, outlives)

        def launch_children() -> None:
            for child in parent.child_jobs:
                runner.launch(child, request)

        return self._launch(parent, launch_children)

    def _launch(self, parent: Job, launch: Callable[[], object]) -> Job:
        """Launch a listed parent's children; if that fails, no job is left behind."""
        try:
            launch()
        except BaseException:
            self.request_stop(parent)
            self.repository.discard(parent)
            raise
        self._started(parent)
        return parent

    def _started(self, parent: Job) -> None:
        """Tell the start listeners (terminal notices, the live jobs table) of a listed job."""
        for listener in list(self.start_listeners):
            listener(parent)

    def fan_out_of(self, child: Job) -> FanOut | None:
        """The fan-out that launches ``child``, while it runs."""
        return None if child.parent is None else self._fan_outs.get(child.parent.id)

    def _fan_out_ended(self, job: Job, previous: JobState, new: JobState) -> None:
        if new.finished:
            self._fan_outs.pop(job.id, None)

    def _job_overran(self, child: Job, seconds: float) -> None:
        """A child ran past its ``timeout``: stopped, it ends Failed with the reason."""
        reason = JobTimeoutError(f"{child.name} ran past its time limit of {seconds:g} s")
        if child.mark_overrun(reason):
            child.records.add(Stream.ERROR, reason, f"JobTimeoutError: {reason}\n")
            child.records.collect()
            self.request_stop(child)

    def attach_detached(self) -> list[Job]:
        """List the detached jobs earlier kernels of this scope left in the job store
        (and hold those no live kernel holds); what loading the extension, or the API's
        first use, does. Nothing happens while there is no store yet."""
        return self.detached.attach()

    def adopt(self, parent: Job) -> None:
        """Take in a job made elsewhere (attached from the job store) as if started."""
        for job in walk([parent]):
            job.controller = self
        self.repository.add(parent)
        self._started(parent)

    def job_store(self) -> JobStore:
        """The job store, opened on first use (and old finished jobs pruned then); a
        ``StoreError`` if ``store_dir`` cannot be used."""
        return self.detached.store()

    def backend(self, name: str) -> Backend:
        """The backend called ``name``, created on first use."""
        if name not in self._backends:
            self._backends[name] = create_backend(name, self)
        return self._backends[name]

    def start_capture(self) -> None:
        if not self._capturing:
            capture.acquire(self.host.display_publisher())
            self._capturing = True

    # -- finding --------------------------------------------------------------------------
    def get_job(
        self,
        *refs: Any,
        name: str | None = None,
        state: str | JobState | None = None,
        include_children: bool = False,
        has_more_data: bool | None = None,
        newest: int | None = None,
        command: str | None = None,
        before: datetime | None = None,
        after: datetime | None = None,
    ) -> list[Job]:
        """Get-Job: the jobs ``refs`` name (all parents if none), narrowed by each filter."""
        if state is not None:
            JobState.parse(state)
        jobs = (
            self.repository.resolve(refs, include_children)
            if refs
            else self.repository.all(include_children)
        )
        return filter_jobs(
            jobs,
            name=name,
            state=state,
            has_more_data=has_more_data,
            newest=newest,
            command=command,
            before=before,
            after=after,
        )

    def _jobs(self, refs: tuple[Any, ...]) -> list[Job]:
        return self.repository.resolve(refs) if refs else self.repository.all()

    # -- receiving ------------------------------------------------------------------------
    def receive_job(
        self,
        *refs: Any,
        keep: bool = False,
        wait: bool = False,
        auto_remove: bool = False,
        no_recurse: bool = False,
        location: str | None = None,
        timeout: float | None = None,
        raw: bool = False,
    ) -> list[Any]:
        """Receive-Job: hand over the records not yet received and remove them unless
        ``keep``. Returns the output values and replays the other records into the current
        output in order; with ``raw``, returns the ``Record`` objects and replays nothing.
        ``wait`` streams until the jobs finish (or ``timeout`` seconds pass)."""
        options = ReceiveOptions(keep, wait, auto_remove, no_recurse, location, timeout, raw)
        options.check()
        jobs = self._jobs(refs)
        if not keep:
            refuse_held_elsewhere(jobs, "receive (and so remove) the output of")
        received = receive(jobs, options, self._changed, self.host)
        if auto_remove:
            self.remove_job(*[job for job in jobs if job.finished])
        return received

    # -- waiting, stopping, removing --------------------------------------------------------
    def wait_job(self, *refs: Any, any: bool = False, timeout: float | None = None) -> list[Job]:
        """Wait-Job: block until all (``any``: one) of the jobs finish; returns those that
        did, so on timeout the ones finished so far while the rest keep running."""
        check_timeout(timeout)
        return wait_jobs(self._jobs(refs), any=any, timeout=timeout)

    def stop_job(self, *refs: Any) -> list[Job]:
        """Stop-Job: ask each job to stop and wait a little for it. A job whose thread is
        stuck in a long C call stays Stopping until that call returns."""
        jobs = self._require(refs, "stop")
        refuse_held_elsewhere(jobs, "stop")
        for job in jobs:
            self.request_stop(job)
        wait_finished(jobs, self.stop_grace + 1.0)
        return jobs

    def request_stop(self, job: Job) -> None:
        """Ask ``job`` to stop and return at once (``stop_job`` also waits a little)."""
        request_stop(job, self._fan_outs.get(job.id))

    def send_input(self, ref: Any, text: str) -> Job:
        """Answer the prompt of the Blocked job ``ref`` names (one job; a parent answers
        its blocked child); the job runs on and its ``input()`` returns ``text``."""
        jobs = self._require((ref,), "answer")
        if len(jobs) != 1:
            names = ", ".join(job.name for job in jobs)
            raise JobArgumentError(f"{ref!r} names {len(jobs)} jobs ({names}); answer one")
        refuse_held_elsewhere(jobs, "answer")
        jobs[0].send_input(text)
        return jobs[0]

    def suspend_job(self, *refs: Any) -> list[Job]:
        """Suspend-Job (process jobs); waiting treats a suspended job as done waiting."""
        return self._for_children(refs, "suspend", lambda runner, child: runner.suspend(child))

    def resume_job(self, *refs: Any) -> list[Job]:
        """Resume-Job."""
        return self._for_children(refs, "resume", lambda runner, child: runner.resume(child))

    def _for_children(
        self, refs: tuple, verb: str, action: Callable[[Runner, Job], None]
    ) -> list[Job]:
        jobs = self._require(refs, verb)
        refuse_held_elsewhere(jobs, verb)
        for_working_children(jobs, action)
        return jobs

    def remove_job(
        self, *refs: Any, force: bool = False, state: str | JobState | None = None
    ) -> None:
        """Remove-Job: forget jobs and free their records. A running job is refused unless
        ``force``, which stops it first. Children go with their parent only."""
        if not refs and state is None:
            raise JobArgumentError("name the jobs to remove (or give state=)")
        jobs = (
            self.get_job(*refs, state=state) if state is not None else self._require(refs, "remove")
        )
        for job in jobs:
            if job.parent is not None:
                raise JobStateError(
                    f"{job.name} is a child of {job.parent.name}: remove its parent"
                )
        refuse_held_elsewhere(jobs, "remove")
        running = [job for job in jobs if not job.finished]
        if running and not force:
            names = ", ".join(job.name for job in running)
            raise JobStateError(
                f"cannot remove running job(s) {names}: stop them first or use force"
            )
        if running:
            self.stop_job(*running)
        for job in jobs:
            self.repository.discard(job)
            for member in walk([job]):
                member.release()
            self._changed(job)

    def _changed(self, job: Job) -> None:
        for listener in list(self.change_listeners):
            listener(job)

    def _require(self, refs: tuple, verb: str) -> list[Job]:
        if not refs:
            raise JobArgumentError(f"name the jobs to {verb}")
        return self.repository.resolve(refs)

    # -- lifetime ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop every running job, release the backends and the output routing."""
        running = [
            job for job in self.repository.all() if not job.finished and not _outlives_manager(job)
        ]
        for job in running:
            self.request_stop(job)
        wait_finished(running, self.stop_grace + 1.0)
        for runner in self._backends.values():
            runner.shutdown()
        self._backends.clear()
        self.detached.close()
        self.collector.close()
        self.deadlines.close()
        self.sampler.close()
        self.notifier.deliverer.close()  # what the jobs' ends queued is still sent
        if self._capturing:
            capture.release()
            self._capturing = False
