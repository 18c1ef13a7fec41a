#!/usr/bin/env python3
"""Command-line client for the HubSpot simulator's control API (test/hubspot_sim.py).

Output is terse and deterministic so that pg_regress tests can call it through psql's \\!.

    simctl.py [--url URL] COMMAND ...      (URL defaults to $HUBSPOT_SIM_URL)

Commands:
    reset                          clear objects, log, faults, counters, config, schemas
    config 'JSON'                  merge config keys
    fault 'JSON'                   append a fault (options: hubspot_sim.py's docstring)
    faults                         the pending faults, one JSON object a line (sorted keys)
    clear-faults                   remove all faults
    clear-requests                 empty the request log
    daily-reset                    reset the daily rate-limit counters
    properties TYPE 'JSON'         replace TYPE's property schema ({"properties":[...]})
    schema 'JSON'                  register a custom object ({"name":..., "properties":[...]});
                                   prints its objectTypeId
    calls [--path S] [--status N]  number of logged API calls
    inputs [--path S]              total inputs over logged batch calls
    requests [--path S]            one line per call: METHOD PATH STATUS NINPUTS
    bodies [--path S]              each request body as compact JSON (sorted keys), one a line
    count TYPE                     number of stored, non-archived objects
    objects TYPE [--props a,b]     <id> TAB <JSON of properties> per non-archived object
                                   (without --props: all but createdate/lastmodifieddate/hs_object_id)
    get TYPE PROP VALUE [--all]    JSON of the properties of the object whose PROP = VALUE
                                   (email: case-insensitive), or "none"; timestamps and
                                   hs_object_id left out unless --all
    stats                          the stats JSON (sorted keys)
    associations FROM TO           <from id> TAB <to id> TAB <types> per stored association
                                   from FROM to TO (ids ascending); types comma-separated as
                                   CATEGORY:typeId[:label], unlabelled first
    assoc-labels FROM TO           the association types of FROM -> TO, CATEGORY:typeId[:label]
                                   one a line
    assoc-label FROM TO 'JSON'     define a label: {"label": "Manager" | null, "name",
                                   "inverseLabel", "category", "typeId", "inverseTypeId"}
    wait-port FILE [--timeout S]   wait for the simulator's port file, print the port
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

VOLATILE = ("createdate", "lastmodifieddate", "hs_object_id")


class SimError(Exception):
    pass


def call(url, method, path, body=None):
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method,
                                 headers=headers)
    # never go through a proxy to reach the loopback simulator
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as r:
            raw = r.read()
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            msg = json.loads(raw).get("error") or raw.decode()
        except ValueError:
            msg = raw.decode("utf-8", "replace")
        raise SimError("%s %s -> %d: %s" % (method, path, e.code, msg))
    except (urllib.error.URLError, OSError) as e:
        raise SimError("cannot reach simulator at %s: %s" % (url, e))
    return json.loads(raw) if raw else None


def dumps(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_json_arg(s):
    try:
        return json.loads(s)
    except ValueError as e:
        raise SimError("invalid JSON argument: %s" % e)


def type_text(t):
    s = "%s:%s" % (t["category"], t["typeId"])
    return s + (":" + t["label"] if t.get("label") is not None else "")


def requests(url, path=None):
    reqs = call(url, "GET", "/_sim/requests")["requests"]
    if path:
        reqs = [r for r in reqs if path in r["path"]]
    return reqs


def live_objects(url, otype):
    res = call(url, "GET", "/_sim/objects/%s" % otype)["results"]
    return [o for o in res if not o.get("archived")]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="simctl.py",
                                 description="control the HubSpot simulator")
    ap.add_argument("--url", default=os.environ.get("HUBSPOT_SIM_URL"))
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("reset")
    p = sub.add_parser("config")
    p.add_argument("json")
    p = sub.add_parser("fault")
    p.add_argument("json")
    sub.add_parser("faults")
    sub.add_parser("clear-faults")
    sub.add_parser("clear-requests")
    sub.add_parser("daily-reset")
    p = sub.add_parser("properties")
    p.add_argument("type")
    p.add_argument("json")
    p = sub.add_parser("schema")
    p.add_argument("json")
    p = sub.add_parser("calls")
    p.add_argument("--path")
    p.add_argument("--status", type=int)
    for name in ("inputs", "requests", "bodies"):
        p = sub.add_parser(name)
        p.add_argument("--path")
    p = sub.add_parser("count")
    p.add_argument("type")
    p = sub.add_parser("objects")
    p.add_argument("type")
    p.add_argument("--props")
    p = sub.add_parser("get")
    p.add_argument("type")
    p.add_argument("prop")
    p.add_argument("value")
    p.add_argument("--all", action="store_true")
    sub.add_parser("stats")
    for name in ("associations", "assoc-labels", "assoc-label"):
        p = sub.add_parser(name)
        p.add_argument("from_type")
        p.add_argument("to_type")
        if name == "assoc-label":
            p.add_argument("json")
    p = sub.add_parser("wait-port")
    p.add_argument("file")
    p.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args(argv)

    out = sys.stdout
    cmd = args.cmd
    if cmd == "wait-port":
        deadline = time.time() + args.timeout
        while True:
            try:
                with open(args.file) as f:
                    txt = f.read().strip()
                if txt:
                    out.write("%d\n" % int(txt))
                    return 0
            except FileNotFoundError:
                pass
            if time.time() >= deadline:
                raise SimError("no port file %s after %gs" % (args.file, args.timeout))
            time.sleep(0.05)

    url = args.url
    if not url:
        raise SimError("no simulator URL: pass --url or set HUBSPOT_SIM_URL")
    if cmd == "reset":
        call(url, "POST", "/_sim/reset", {})
    elif cmd == "config":
        call(url, "POST", "/_sim/config", parse_json_arg(args.json))
    elif cmd == "fault":
        call(url, "POST", "/_sim/faults", parse_json_arg(args.json))
    elif cmd == "faults":
        for f in call(url, "GET", "/_sim/faults")["faults"]:
            out.write(dumps(f) + "\n")
    elif cmd == "clear-faults":
        call(url, "DELETE", "/_sim/faults")
    elif cmd == "clear-requests":
        call(url, "DELETE", "/_sim/requests")
    elif cmd == "daily-reset":
        call(url, "POST", "/_sim/daily_reset", {})
    elif cmd == "properties":
        call(url, "POST", "/_sim/properties/%s" % args.type, parse_json_arg(args.json))
    elif cmd == "schema":
        out.write(call(url, "POST", "/_sim/schemas", parse_json_arg(args.json))["objectTypeId"] + "\n")
    elif cmd == "calls":
        reqs = requests(url, args.path)
        if args.status is not None:
            reqs = [r for r in reqs if r["status"] == args.status]
        out.write("%d\n" % len(reqs))
    elif cmd == "inputs":
        out.write("%d\n" % sum(r.get("ninputs") or 0 for r in requests(url, args.path)))
    elif cmd == "requests":
        for r in requests(url, args.path):
            out.write("%s %s %s %s\n" % (r["method"], r["path"], r["status"], r.get("ninputs") or 0))
    elif cmd == "bodies":
        for r in requests(url, args.path):
            if "body" in r:
                out.write(dumps(r["body"]) + "\n")
    elif cmd == "count":
        out.write("%d\n" % len(live_objects(url, args.type)))
    elif cmd == "objects":
        objs = sorted(live_objects(url, args.type), key=lambda o: int(o["id"]))
        chosen = [x for x in args.props.split(",") if x] if args.props else None
        for o in objs:
            props = o["properties"]
            if chosen is not None:
                sel = {k: props.get(k) for k in chosen}
            else:
                sel = {k: v for k, v in props.items() if k not in VOLATILE}
            out.write("%s\t%s\n" % (o["id"], dumps(sel)))
    elif cmd == "get":
        want = args.value.lower() if args.prop == "email" else args.value
        found = None
        for o in sorted(live_objects(url, args.type), key=lambda o: int(o["id"])):
            v = o["properties"].get(args.prop)
            if v is not None and (v.lower() if args.prop == "email" else v) == want:
                found = o
                break
        if found is None:
            out.write("none\n")
        else:
            props = found["properties"]
            if not args.all:
                props = {k: v for k, v in props.items() if k not in VOLATILE}
            out.write(dumps(props) + "\n")
    elif cmd == "stats":
        out.write(dumps(call(url, "GET", "/_sim/stats")) + "\n")
    elif cmd == "associations":
        for a in call(url, "GET", "/_sim/associations/%s/%s"
                      % (args.from_type, args.to_type))["results"]:
            out.write("%s\t%s\t%s\n" % (a["from"], a["to"],
                                        ",".join(type_text(t) for t in a["types"])))
    elif cmd == "assoc-labels":
        for t in call(url, "GET", "/_sim/associations/%s/%s/labels"
                      % (args.from_type, args.to_type))["results"]:
            out.write(type_text(t) + "\n")
    elif cmd == "assoc-label":
        call(url, "POST", "/_sim/associations/%s/%s/labels" % (args.from_type, args.to_type),
             parse_json_arg(args.json))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SimError as e:
        sys.stderr.write("simctl: %s\n" % e)
        sys.exit(1)
    except BrokenPipeError:
        sys.exit(1)
