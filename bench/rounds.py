#!/usr/bin/env python3
"""Where a drain's time goes, seen from the simulator: split the batch calls into bursts.

    rounds.py URL [--gap-ms 3]

The worker claims up to 5,000 rows, sends them (50 calls of 100), writes the outcomes back,
and claims again: on the simulator's request log this shows as bursts of calls separated by
idle gaps.  A new burst starts when no call was in flight for more than --gap-ms.  Prints
key=value lines: bursts, calls, mean calls per burst, total time in bursts (calls in flight:
HTTP + JSON on both sides) and in gaps (nothing in flight: the worker's database work and
request building / answer parsing that is not overlapped), and their shares; inputs/s over the
first and the last tenth of the calls.
Standard library only.
"""
import argparse
import http.client
import json
import sys
from urllib.parse import urlsplit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--gap-ms", type=float, default=3.0)
    a = ap.parse_args()
    u = urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", "/_sim/requests")
    log = [e for e in json.loads(conn.getresponse().read())["requests"] if "/batch/" in e["path"]]
    if not log:
        print("bursts=0")
        return 1
    log.sort(key=lambda e: e["t_start"])
    bursts = []
    cur = [log[0]["t_start"], log[0]["t_end"], 1]
    for e in log[1:]:
        if e["t_start"] - cur[1] > a.gap_ms / 1000.0:
            bursts.append(cur)
            cur = [e["t_start"], e["t_end"], 1]
        else:
            cur[1] = max(cur[1], e["t_end"])
            cur[2] += 1
    bursts.append(cur)
    busy = sum(b[1] - b[0] for b in bursts)
    gaps = [bursts[i + 1][0] - bursts[i][1] for i in range(len(bursts) - 1)]
    total = bursts[-1][1] - bursts[0][0]
    print("bursts=%d" % len(bursts))
    print("calls=%d" % len(log))
    print("calls_per_burst=%.1f" % (len(log) / len(bursts)))
    print("span_s=%.3f" % total)
    print("in_bursts_s=%.3f" % busy)
    print("in_gaps_s=%.3f" % sum(gaps))
    print("in_bursts_pct=%.1f" % (100.0 * busy / total if total else 0))
    print("mean_burst_ms=%.1f" % (1000.0 * busy / len(bursts)))
    print("mean_gap_ms=%.1f" % (1000.0 * sum(gaps) / len(gaps) if gaps else 0))
    # inputs per second over the first and the last tenth of the calls (does the drain slow
    # down as the queue table grows?)
    k = max(1, len(log) // 10)
    for name, part in (("first", log[:k]), ("last", log[-k:])):
        span = max(e["t_end"] for e in part) - part[0]["t_start"]
        print("rate_%s_tenth=%.0f" % (name, sum(e["ninputs"] for e in part) / span if span > 0 else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
