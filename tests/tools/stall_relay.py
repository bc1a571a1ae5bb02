#!/usr/bin/env python3
"""tests/tools/stall_relay.py LOG STATUS -- COMMAND...

Runs COMMAND with its stdout and stderr on a pipe of one page (4 KiB) and copies what it
writes to LOG. SIGUSR1 stops the copying, so the command's next writes fill the pipe and block
(a log call inside a milter callback then cannot return); SIGUSR2 resumes it. When the command
exits, its exit status (or 128 + signal) goes to STATUS. Prints the command's pid on stdout.
Used by milter_daemon.sh to stop the milter while one of its callbacks is stuck.
"""
import fcntl
import os
import signal
import subprocess
import sys
import time

F_SETPIPE_SZ = 1031


def main():
    log, status = sys.argv[1], sys.argv[2]
    command = sys.argv[sys.argv.index("--") + 1:]
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    paused = [False]
    signal.signal(signal.SIGUSR1, lambda *_: paused.__setitem__(0, True))
    signal.signal(signal.SIGUSR2, lambda *_: paused.__setitem__(0, False))
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=write_end,
                             stderr=write_end, start_new_session=True)
    os.close(write_end)
    print(child.pid, flush=True)
    with open(log, "ab", buffering=0) as out:
        while True:
            if paused[0]:
                time.sleep(0.05)  # until SIGUSR2
                continue
            try:
                chunk = os.read(read_end, 4096)
            except InterruptedError:
                continue
            if not chunk:
                break
            out.write(chunk)
    rc = child.wait()
    with open(status, "w") as f:
        f.write(str(rc if rc >= 0 else 128 - rc) + "\n")


if __name__ == "__main__":
    main()
