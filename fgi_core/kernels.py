"""Notebook kernels started ahead and shut down behind, for runs of several notebooks.

Executing a notebook pays for a kernel twice outside its cells: ~1 s to start one, and, once
torch is imported, 1.5-3 s for it to exit after its shutdown request (the interpreter tearing
torch's modules down; measured with jupyter_client 8.10 / ipykernel 7.4 on 2 cores). Executed
one after the other, six notebooks wait ~20 s for that. :class:`KernelRelay` overlaps it: when
notebook k is done its kernel is asked to shut down and the kernel of notebook k+1 starts at
once, while the caller writes its HTML and status; the old kernel is waited for only when the
next one is handed back (it is long gone by then) or when the relay closes. Both processes
mostly run single-threaded Python then, which two cores absorb.

Nothing is cut short: a kernel still exits through its normal shutdown (atexit handlers run);
it is killed only when it has not gone within jupyter_client's ``shutdown_wait_time`` (5 s), or
when the relay closes with a kernel that was started ahead and never used.

Example (what :mod:`fgi_core.runner` does)::

    with KernelRelay("python3", cwd="notebooks", environment=kernel_environment) as relay:
        for k, nb in enumerate(notebooks):
            km = relay.take()
            papermill.execute_notebook(nb, out, km=km)       # papermill leaves km running
            relay.hand_back(km, start_next=k + 1 < len(notebooks))
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, ContextManager, Sequence

from jupyter_client.manager import AsyncKernelManager

__all__ = ["KernelRelay"]

#: IPython's command history in memory, as nbclient asks for the kernels it starts itself.
HISTORY_IN_MEMORY = "--HistoryManager.hist_file=:memory:"


class _RecordingKernelManager(AsyncKernelManager):
    """``AsyncKernelManager`` that remembers the clients it makes: nbclient leaves the client
    of a kernel it does not own open (its heartbeat thread and sockets, ~11 file descriptors a
    notebook, enough to exhaust a long ``fgi sweep``), so the relay closes them itself."""

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        self.__dict__.setdefault("fgi_clients", []).append(kc)
        return kc


class KernelRelay:
    """Start each notebook's kernel ahead and shut the previous one down behind.

    Args:
        kernel_name: the Jupyter kernel spec (``python3``).
        cwd: the kernels' working directory (the notebooks' folder).
        extra_arguments: added to the kernel's command line (e.g. a quieter log level).
        environment: a context manager factory active while a kernel starts (the kernel
            inherits ``os.environ`` then), e.g. :func:`fgi_core.runner.kernel_environment`.

    Attributes:
        started: every kernel manager this relay started, in order (for inspection and tests).
    """

    def __init__(self, kernel_name: str, cwd: str | Path, extra_arguments: Sequence[str] = (),
                 environment: Callable[[], ContextManager] = contextlib.nullcontext) -> None:
        self.kernel_name = kernel_name
        self.cwd = str(cwd)
        self.extra_arguments = list(extra_arguments)
        self.environment = environment
        self.started: list = []
        self._ahead = None      # started for the next notebook, not taken yet
        self._retiring: list = []  # asked to shut down, not yet waited for

    def __enter__(self) -> "KernelRelay":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self):
        from jupyter_core.utils import run_sync

        km = _RecordingKernelManager(kernel_name=self.kernel_name)
        arguments = self.extra_arguments + ([HISTORY_IN_MEMORY] if km.ipykernel else [])  # as nbclient does
        self.started.append(km)  # before it runs: close() stops it even if this start is interrupted
        with self.environment():
            run_sync(km.start_kernel)(extra_arguments=arguments, cwd=self.cwd)
        return km

    def take(self):
        """The kernel for the next notebook: the one started ahead, else a new one (running;
        papermill connects to it and leaves it running: hand it back afterwards)."""
        km, self._ahead = self._ahead, None
        return km if km is not None else self._start()

    def hand_back(self, km, start_next: bool = False, interrupt: bool = False) -> None:
        """Close the clients papermill made for ``km`` and ask it to shut down (without
        waiting), after waiting for the kernels handed back before it; ``interrupt`` first
        (a cell may still run: a failure or Ctrl-C). Then, if ``start_next``, start the next
        notebook's kernel."""
        from jupyter_core.utils import run_sync

        self._reap()
        _close_clients(km)
        with contextlib.suppress(Exception):  # a kernel that died on its own needs no request
            km.shutting_down = True
            if interrupt:
                run_sync(km.interrupt_kernel)()
            run_sync(km.request_shutdown)()
        self._retiring.append(km)
        if start_next and self._ahead is None:
            try:
                self._ahead = self._start()
            except Exception:  # noqa: BLE001 -- take() starts one again, and reports what fails then
                self._ahead = None

    def _reap(self) -> None:
        """Wait for the kernels asked to shut down (killed after ``shutdown_wait_time``)."""
        from jupyter_core.utils import run_sync

        while self._retiring:
            km = self._retiring[0]
            try:
                with contextlib.suppress(Exception):
                    run_sync(km.finish_shutdown)()
            finally:  # a second Ctrl-C while waiting still removes its connection file
                with contextlib.suppress(Exception):
                    run_sync(km.cleanup_resources)()
                self._retiring.pop(0)

    def close(self) -> None:
        """Wait for every kernel handed back; stop any other still running (one started ahead
        and never taken, or one taken and not handed back because its caller raised)."""
        from jupyter_core.utils import run_sync

        self._reap()
        self._ahead = None
        for km in self.alive():
            _close_clients(km)
            with contextlib.suppress(Exception):
                run_sync(km.shutdown_kernel)(now=True)

    def alive(self) -> list:
        """The kernels this relay started that are still running."""
        from jupyter_core.utils import run_sync

        alive = []
        for km in self.started:
            with contextlib.suppress(Exception):
                if km.has_kernel and run_sync(km.is_alive)():
                    alive.append(km)
        return alive


def _close_clients(km) -> None:
    """Stop the channels of every client ``km`` made, and the ZeroMQ context each made."""
    for kc in km.__dict__.pop("fgi_clients", []):
        with contextlib.suppress(Exception):
            kc.stop_channels()
        if getattr(kc, "_created_context", False):
            with contextlib.suppress(Exception):
                kc.context.destroy(linger=0)
