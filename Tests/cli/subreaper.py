"""Runs a command as a child subreaper and reports what it left behind.

    python3 subreaper.py REPORT.json COMMAND ARGS...

With PR_SET_CHILD_SUBREAPER set, processes orphaned by COMMAND (its
children still running, or dead but never reaped, when it exits) become
children of this script instead of init. After COMMAND exits, this script
lists them (pid, state, command line) in REPORT.json with COMMAND's exit
code and pid, then kills and reaps them. SIGINT sent to this script is passed on
to COMMAND. Stdin, stdout and stderr are COMMAND's.
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append({"pid": int(entry), "state": fields[0], "cmdline": cmdline})
    return found


def main():
    report, command = sys.argv[1], sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
    child = subprocess.Popen(command)
    signal.signal(signal.SIGINT, lambda *_: child.send_signal(signal.SIGINT))
    code = child.wait()
    time.sleep(0.2)  # let orphans be reparented
    strays = children_of(os.getpid())
    for stray in strays:
        try:
            os.kill(stray["pid"], signal.SIGKILL)
            os.waitpid(stray["pid"], 0)
        except OSError:
            pass
    with open(report, "w") as f:
        json.dump({"code": code, "pid": child.pid, "strays": strays}, f)


if __name__ == "__main__":
    main()
