#!/usr/bin/env python3
"""Benchmark 3: latency at low load, single-row INSERT + COMMIT -> stored in the simulator.

    latency.py --sim URL --runs N [--warmup W] [--table contacts] [--think-ms 5] -- PSQL ARGS...

Method
  * One long-lived psql process, fed through a pipe (no per-run process start).  Each run writes
        INSERT INTO <table> (email, firstname) VALUES ('lat<i>.<tag>@example.com', 'L<i>');
        \echo ok<i>
    psql runs in autocommit (-q: the INSERT prints nothing), so the INSERT has committed when
    psql gets to the \echo, which needs no server round trip.  t_send = client clock just before
    writing the two lines, t_ack = when the "ok<i>" line is read.
  * The simulator runs in normal mode with record_bodies on: its request log gives, per call,
    t_start / t_end (time.time() of the same machine, same clock) and the body, so each row is
    matched to the call that carried it by its email.
  * Runs are sequential: the next run starts only after the simulator has logged the previous
    row's call (checked by polling GET /_sim/requests?since=SEQ every 2 ms; the poll only gates,
    it never times anything) plus --think-ms of idle time, so the worker is idle at each commit.
  * Reported: commit -> stored = t_end - t_ack (t_ack comes after the server-side commit by the
    time the answer takes to reach psql and the echo to reach this script, tens of microseconds:
    a slight underestimate), and statement start -> stored = t_end - t_send
    (includes the INSERT's own execution and the commit's fsync: an upper bound).  Also the
    split: commit -> call starts at the simulator (worker wake-up, claim, request build, connect)
    and call start -> end (simulator time).
Prints key=value lines.  Standard library only.
"""
import argparse
import http.client
import json
import subprocess
import sys
import time
from urllib.parse import urlsplit


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", required=True)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--table", default="contacts")
    ap.add_argument("--think-ms", type=float, default=5.0)
    ap.add_argument("--tag", default=str(int(time.time())))
    ap.add_argument("psql", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    psql = a.psql[1:] if a.psql and a.psql[0] == "--" else a.psql
    if not psql:
        ap.error("psql command missing after --")

    u = urlsplit(a.sim)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def get(path):
        conn.request("GET", path)
        r = conn.getresponse()
        return json.loads(r.read())

    log = get("/_sim/requests")["requests"]
    seq0 = max((e["seq"] for e in log), default=0)
    seq = seq0

    p = subprocess.Popen(psql + ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    total = a.warmup + a.runs
    sent = {}
    timeouts = 0
    for i in range(total):
        email = "lat%d.%s@example.com" % (i, a.tag)
        t_send = time.time()
        p.stdin.write("INSERT INTO %s (email, firstname) VALUES ('%s', 'L%d');\n\\echo ok%d\n"
                      % (a.table, email, i, i))
        p.stdin.flush()
        while True:
            line = p.stdout.readline()
            if not line:
                sys.exit("psql ended early")
            if line.strip() == "ok%d" % i:
                break
        t_ack = time.time()
        sent[email] = (i, t_send, t_ack)
        # gate: wait until the simulator has logged a call after seq
        deadline = t_ack + 10
        while True:
            time.sleep(0.002)
            new = get("/_sim/requests?since=%d" % seq)["requests"]
            done = [e for e in new if "/batch/" in e["path"]]
            if new:
                seq = max(e["seq"] for e in new)
            if any(email in json.dumps(e.get("body", "")) for e in done):
                break
            if time.time() > deadline:
                timeouts += 1
                break
        time.sleep(a.think_ms / 1000.0)
    p.stdin.close()
    p.wait()

    log = get("/_sim/requests?since=%d" % seq0)["requests"]
    stored = {}
    multi = 0
    for e in log:
        if "/batch/" not in e["path"] or not isinstance(e.get("body"), dict):
            continue
        ins = e["body"].get("inputs") or []
        if len(ins) > 1:
            multi += 1
        if e["status"] >= 300:
            continue
        for inp in ins:
            em = str(inp.get("id", "")).lower()
            if em in sent and em not in stored:
                stored[em] = (e["t_start"], e["t_end"])
    commit, stmt, pickup, sim = [], [], [], []
    missing = 0
    for em, (i, t_send, t_ack) in sent.items():
        if i < a.warmup:
            continue
        if em not in stored:
            missing += 1
            continue
        ts, te = stored[em]
        commit.append((te - t_ack) * 1000)
        stmt.append((te - t_send) * 1000)
        pickup.append((ts - t_ack) * 1000)
        sim.append((te - ts) * 1000)
    out = {
        "runs": len(commit), "missing": missing, "gate_timeouts": timeouts,
        "calls_with_more_than_one_input": multi,
        "commit_p50_ms": pct(commit, 50), "commit_p90_ms": pct(commit, 90),
        "commit_p99_ms": pct(commit, 99), "commit_max_ms": max(commit) if commit else float("nan"),
        "stmt_p50_ms": pct(stmt, 50), "stmt_p99_ms": pct(stmt, 99),
        "pickup_p50_ms": pct(pickup, 50), "pickup_p99_ms": pct(pickup, 99),
        "sim_p50_ms": pct(sim, 50), "sim_p99_ms": pct(sim, 99),
        "insert_p50_ms": pct([(sent[k][2] - sent[k][1]) * 1000 for k in sent], 50),
    }
    for k, v in out.items():
        print("%s=%s" % (k, ("%.2f" % v) if isinstance(v, float) else v))
    return 0 if missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
