"""PID 1 of a Docker sandbox container: runs the runner, and ends the
container when the grader that started it is gone.

    python3 watchdog.py LEASE_FILE LEASE_SECONDS -- python3 /job/runner.py /job/job.json

The grader touches LEASE_FILE (a read-only bind mount) every few seconds
while it waits for the container. When the file has not been touched for
LEASE_SECONDS, the grader died (kill -9 included, which no cleanup code in the
grader survives), and the watchdog kills the runner and exits; as the
container's PID 1 its exit ends every process left in the container. The
container has no network, so a file's mtime is the heartbeat.

It exits with the runner's exit code, or 128 + the signal that killed it (what
Docker reports for a PID 1 killed by a signal), and reaps the orphans the
runner leaves (PID 1's duty). Standard library only: it runs in any image.
"""

import os
import signal
import sys
import time

POLL_SECONDS = 0.25
LEASE_LOST_EXIT = 137   # as if killed: the run that wanted the result is gone


def lease_age(lease: str) -> float:
    try:
        return time.time() - os.stat(lease).st_mtime
    except OSError:
        return float("inf")   # the grader removed the lease: it is done with us


def exit_status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def main(argv: list[str]) -> int:
    lease, lease_seconds, separator, *command = argv
    if separator != "--" or not command:
        print("usage: watchdog.py LEASE_FILE LEASE_SECONDS -- COMMAND...", file=sys.stderr)
        return 2
    runner = os.fork()
    if runner == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    # PID 1 ignores signals it has no handler for; pass a polite stop on.
    signal.signal(signal.SIGTERM, lambda *_: os.kill(runner, signal.SIGKILL))
    while True:
        while True:   # reap every child that has ended, the runner among them
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return 127
            if pid == 0:
                break
            if pid == runner:
                return exit_status(status)
        if lease_age(lease) > float(lease_seconds):
            print(f"watchdog: the grader stopped renewing {lease} for {lease_seconds} s; "
                  "it is gone, so the sandbox stops", file=sys.stderr, flush=True)
            os.kill(runner, signal.SIGKILL)
            return LEASE_LOST_EXIT
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
