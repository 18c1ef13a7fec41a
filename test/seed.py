#!/usr/bin/env python3
"""Seed the simulator with contacts straight through its batch/create (not through the
extension: tests that measure reads need many records fast).
Usage: seed.py SIM_URL FIRST LAST PREFIX -> contacts PREFIX<g>@example.com with
lifetime_value g, 100 a call."""
import json
import sys
import urllib.request

url, first, last, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for start in range(first, last + 1, 100):
    inputs = [{"properties": {"email": "%s%d@example.com" % (prefix, g), "lifetime_value": str(g)}}
              for g in range(start, min(start + 100, last + 1))]
    req = urllib.request.Request(url + "/crm/v3/objects/contacts/batch/create",
                                 data=json.dumps({"inputs": inputs}).encode(),
                                 headers={"Authorization": "Bearer pat-test",
                                          "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        if r.status >= 300:
            sys.exit("seed: HTTP %d" % r.status)
