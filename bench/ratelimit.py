#!/usr/bin/env python3
"""Benchmark 5: achieved call rate and 429 share under the simulator's rate limit.

    ratelimit.py --sim URL --inputs N --limit L [--change-after S --change-to M] [--timeout T]

Watches the simulator's request log (GET /_sim/requests?since=SEQ every 0.25 s, from --since,
default 0: clear the log with DELETE /_sim/requests before the rows are committed; record_bodies
may be off, t_start/status/ninputs are always logged) until N inputs have been accepted (2xx).
With --change-after, POSTs /_sim/config {"rate_limit_max": M} S seconds after the first call.

Then, per phase (phase 1 = first call .. change, phase 2 = change .. last call; without a change
one phase), from the log:
  calls, ok (2xx), r429, share429 = r429 / calls,
  rate = ok calls whose t_start is in the phase / phase length,
  steady_rate = the mean count of 2xx call starts in a sliding 1-interval window, over the phase
                less its first 2 s (learning the limit from the X-HubSpot-RateLimit-* headers,
                the initial burst); unlike rate it is not skewed by where bursts fall relative
                to the phase ends,
  bursts, burst_calls_median, burst_period_median_s: calls separated by > 100 ms of silence,
  target = the simulator's limit per second in that phase.
Prints key=value lines.  Standard library only.
"""
import argparse
import bisect
import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", required=True)
    ap.add_argument("--inputs", type=int, required=True)
    ap.add_argument("--limit", type=float, required=True, help="simulator calls per second")
    ap.add_argument("--change-after", type=float)
    ap.add_argument("--change-to", type=int)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--skip", type=float, default=2.0)
    ap.add_argument("--dump", help="write the batch calls seen (JSON lines) to this file")
    ap.add_argument("--since", type=int, default=0,
                    help="request-log sequence number to start after (clear the log first)")
    a = ap.parse_args()

    u = urlsplit(a.sim)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def call(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        return json.loads(r.read())

    log = []
    seq = a.since
    ok_inputs = 0
    t_change = None
    end = time.time() + a.timeout
    while ok_inputs < a.inputs and time.time() < end:
        new = call("GET", "/_sim/requests?since=%d" % seq)["requests"]
        for e in new:
            seq = max(seq, e["seq"])
            if "/batch/" in e["path"]:
                log.append(e)
                if e["status"] < 300:
                    ok_inputs += e["ninputs"]
        if a.change_after is not None and t_change is None and log \
                and time.time() >= log[0]["t_start"] + a.change_after:
            call("POST", "/_sim/config", {"rate_limit_max": a.change_to})
            t_change = time.time()
        time.sleep(0.25)
    timed_out = ok_inputs < a.inputs
    log.sort(key=lambda e: e["t_start"])
    if a.dump:
        with open(a.dump, "w") as f:
            for e in log:
                f.write(json.dumps(e, sort_keys=True) + "\n")
    if not log:
        print("timed_out=1")
        return 1
    t0 = log[0]["t_start"]
    t_last = max(e["t_start"] for e in log)
    phases = [("p1", t0, t_change or t_last, a.limit * 1000.0 / a.interval_ms)]
    if t_change:
        phases.append(("p2", t_change, t_last, a.change_to * 1000.0 / a.interval_ms))
    print("timed_out=%d" % (1 if timed_out else 0))
    print("ok_inputs=%d" % ok_inputs)
    print("duration_s=%.2f" % (t_last - t0))
    for name, lo, hi, target in phases:
        if t_change and name == "p1":
            es = [e for e in log if lo <= e["t_start"] < hi]
        else:
            es = [e for e in log if lo <= e["t_start"] <= hi]
        ok = [e for e in es if e["status"] < 300]
        r429 = [e for e in es if e["status"] == 429]
        other = len(es) - len(ok) - len(r429)
        dur = hi - lo
        # steady rate: the mean number of 2xx call starts in a sliding window of one rate-limit
        # interval, over the phase less its first --skip seconds (the window slides in 5 ms
        # steps and stays inside the phase).  Unbiased for bursty and for smooth sending.
        iv = a.interval_ms / 1000.0
        starts = sorted(e["t_start"] for e in ok)
        st_lo, st_hi = lo + a.skip, hi - iv
        counts = []
        t = st_lo
        while t <= st_hi:
            counts.append(bisect.bisect_left(starts, t + iv) - bisect.bisect_left(starts, t))
            t += 0.005
        steady = (sum(counts) / len(counts) / iv) if counts else 0.0
        # bursts: calls separated by more than 100 ms of silence
        bstarts, bsizes = [], []
        for x in starts:
            if not bstarts or x - last > 0.1:
                bstarts.append(x)
                bsizes.append(0)
            bsizes[-1] += 1
            last = x
        periods = sorted(bstarts[i + 1] - bstarts[i] for i in range(len(bstarts) - 1))
        print("%s_seconds=%.2f" % (name, dur))
        print("%s_target_per_s=%.1f" % (name, target))
        print("%s_calls=%d" % (name, len(es)))
        print("%s_ok=%d" % (name, len(ok)))
        print("%s_429=%d" % (name, len(r429)))
        print("%s_other=%d" % (name, other))
        print("%s_share429_pct=%.2f" % (name, 100.0 * len(r429) / len(es) if es else 0))
        print("%s_rate=%.2f" % (name, len(ok) / dur if dur > 0 else 0))
        print("%s_steady_rate=%.2f" % (name, steady))
        print("%s_steady_pct=%.1f" % (name, 100.0 * steady / target))
        print("%s_bursts=%d" % (name, len(bstarts)))
        if periods:
            print("%s_burst_calls_median=%d" % (name, sorted(bsizes)[len(bsizes) // 2]))
            print("%s_burst_period_median_s=%.3f" % (name, periods[len(periods) // 2]))
        # the worst 1-second window of 2xx call starts, for information
        best = 0
        j = 0
        for i in range(len(ok)):
            while ok[i]["t_start"] - ok[j]["t_start"] >= a.interval_ms / 1000.0:
                j += 1
            best = max(best, i - j + 1)
        print("%s_max_ok_in_window=%d" % (name, best))
        if r429:
            print("%s_first_429_after_s=%.2f" % (name, r429[0]["t_start"] - lo))
            print("%s_last_429_after_s=%.2f" % (name, r429[-1]["t_start"] - lo))
    return 1 if timed_out else 0


if __name__ == "__main__":
    sys.exit(main())
