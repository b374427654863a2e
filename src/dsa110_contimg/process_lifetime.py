"""Child processes that end with their parent, however the parent ends (SIGKILL included).

A worker process of ``contimg run`` or a program the stream runs (WSClean, an imaging command)
must not outlive the service that started it: an orphaned worker keeps claiming items with a
configuration nobody runs any more, and an orphaned imager writes into a directory that a
restarted stream is using. The Linux kernel delivers a chosen signal to a process when its
parent dies (``prctl(PR_SET_PDEATHSIG)``); this module arms it

* in a Python child, from its own start-up code (`exit_with_parent`), with SIGTERM so that a
  worker finishes (or gives back) its current item and exits, and
* for an external program, through util-linux ``setpriv --pdeathsig KILL``
  (`command_dying_with_parent`; a ``preexec_fn`` is not safe in the threaded service).

The signal is tied to the *thread* that started the child: children must be started, and
stopped, by a thread that lives as long as they should (the main thread of ``contimg run``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import sys

__all__ = ["command_dying_with_parent", "exit_with_parent"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> None:
    """Have the kernel send ``signum`` to this process when its parent dies.

    Call it first thing in a child process (e.g. as a pool ``initializer``).

    Parameters
    ----------
    parent_pid : int
        The process id of the parent that started this process (``os.getpid()`` there). If
        the parent already died before this call, the signal is sent at once.
    signum : int
        The signal to receive (default SIGTERM: the worker's handler finishes the current item
        and stops; without a handler the process ends).

    Raises
    ------
    OSError
        ``prctl`` refused the request.
    """
    if not sys.platform.startswith("linux"):
        log.warning(
            "process %d: no parent-death signal on %s; it would outlive a killed parent",
            os.getpid(),
            sys.platform,
        )
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(errno)}")
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        log.warning("process %d: parent %d is gone; exiting", os.getpid(), parent_pid)
        os.kill(os.getpid(), signum)


def command_dying_with_parent(args: list[str]) -> list[str]:
    """``args`` wrapped so that the program is killed (SIGKILL) when this process dies.

    Through util-linux ``setpriv --pdeathsig KILL`` where it exists; without it the command is
    returned unchanged and a WARNING says that the program would outlive a killed parent.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        log.warning(
            "setpriv (util-linux) not found: %s would outlive a killed parent",
            os.path.basename(args[0]) if args else "the command",
        )
        return args
    return [setpriv, "--pdeathsig", "KILL", "--", *args]
