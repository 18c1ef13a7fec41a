#!/usr/bin/env python3
"""Wait until the HubSpot simulator has received N batch inputs, without touching PostgreSQL.

    simwait.py URL N [--timeout S] [--poll S] [--pid PID --interval S]

Polls GET /_sim/stats every --poll seconds (default 0.05) until stats.inputs >= N.  With --pid,
samples /proc/PID/status (VmRSS, RssAnon, RssShmem, in kB) every --interval seconds meanwhile.
Prints key=value lines: inputs, calls, by_status (JSON), first_t, last_t, max_in_flight,
rate_limited, done_t (client clock when N was seen), timed_out, and with --pid rss_samples,
rss_min_kb, rss_max_kb, anon_min_kb, anon_max_kb, shmem_max_kb.

Standard library only.
"""
import argparse
import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def rss(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssShmem", "RssFile"):
                    out[k] = int(v.split()[0])
    except OSError:
        return None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("n", type=int)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--poll", type=float, default=0.05)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--interval", type=float, default=0.2)
    a = ap.parse_args()

    u = urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def stats():
        conn.request("GET", "/_sim/stats")
        r = conn.getresponse()
        return json.loads(r.read())

    samples = []
    end = time.time() + a.timeout
    next_rss = 0.0
    timed_out = True
    st = None
    while time.time() < end:
        now = time.time()
        if a.pid and now >= next_rss:
            s = rss(a.pid)
            if s:
                samples.append(s)
            next_rss = now + a.interval
        st = stats()
        if st["inputs"] >= a.n:
            timed_out = False
            break
        time.sleep(a.poll)
    done_t = time.time()
    if a.pid:
        s = rss(a.pid)
        if s:
            samples.append(s)
    print("inputs=%d" % st["inputs"])
    print("calls=%d" % st["calls"])
    print("by_status=%s" % json.dumps(st["by_status"], sort_keys=True, separators=(",", ":")))
    print("first_t=%.6f" % (st["first_t"] or 0))
    print("last_t=%.6f" % (st["last_t"] or 0))
    print("max_in_flight=%d" % st["max_in_flight"])
    print("rate_limited=%d" % st["rate_limited"])
    print("done_t=%.6f" % done_t)
    print("timed_out=%d" % (1 if timed_out else 0))
    if a.pid:
        print("rss_samples=%d" % len(samples))
        if samples:
            print("rss_min_kb=%d" % min(s.get("VmRSS", 0) for s in samples))
            print("rss_max_kb=%d" % max(s.get("VmRSS", 0) for s in samples))
            print("anon_min_kb=%d" % min(s.get("RssAnon", 0) for s in samples))
            print("anon_max_kb=%d" % max(s.get("RssAnon", 0) for s in samples))
            print("shmem_max_kb=%d" % max(s.get("RssShmem", 0) for s in samples))
    return 1 if timed_out else 0


if __name__ == "__main__":
    sys.exit(main())
