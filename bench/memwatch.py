#!/usr/bin/env python3
"""memwatch.py - peak memory of each system under test, sampled from /proc.

usage: memwatch.py OUT [INTERVAL_S]   (runs until SIGTERM/SIGINT, then writes OUT)

Every INTERVAL_S (default 0.1) it sums, per group, the proportional set size
(Pss, from /proc/PID/smaps_rollup) of the group's processes, and keeps the
largest sum seen. Pss splits shared pages between the processes that map
them, so a multi-process MTA (Postfix's smtpd, cleanup, qmgr, smtp..., and
OpenDKIM) is counted once, like envoi's single process. The load generator
and the sink are no group's.

OUT gets one line per group seen: `GROUP peak_pss_mib=X peak_rss_mib=Y`
(peak_rss_mib: the largest sum of VmRSS, which counts shared pages in every
process).
"""
import os
import signal
import sys
import time


def group_of(pid):
    try:
        comm = open(f"/proc/{pid}/comm").read().strip()
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
    if comm.startswith("envoi"):
        return "envoi"
    if comm == "opendkim":
        return "postfix"
    if exe.startswith("/usr/lib/postfix/"):
        return "postfix"
    if os.path.basename(exe).startswith("node"):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            return None
        if b"haraka" in cmd.lower():
            return "haraka"
    return None


def kib(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    out = sys.argv[1]
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
    peak_pss, peak_rss = {}, {}
    groups = {}  # pid -> group, for processes found to be ours
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while not stop:
        pss, rss = {}, {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            # Looked at again until found: a child forked by a script
            # becomes an MTA only when it execs.
            g = groups.get(name) or group_of(name)
            if g is None:
                continue
            groups[name] = g
            p = kib(f"/proc/{name}/smaps_rollup", "Pss:")
            if p == 0:  # gone (or a new process under a reused pid)
                groups.pop(name, None)
                continue
            pss[g] = pss.get(g, 0) + p
            rss[g] = rss.get(g, 0) + kib(f"/proc/{name}/status", "VmRSS:")
        for g, v in pss.items():
            peak_pss[g] = max(peak_pss.get(g, 0), v)
            peak_rss[g] = max(peak_rss.get(g, 0), rss[g])
        time.sleep(interval)
    with open(out, "w") as f:
        for g in sorted(peak_pss):
            f.write(f"{g} peak_pss_mib={peak_pss[g] / 1024:.1f} peak_rss_mib={peak_rss[g] / 1024:.1f}\n")


if __name__ == "__main__":
    main()
