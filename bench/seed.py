#!/usr/bin/env python3
"""Seed the simulator with contacts for the reads benchmark (bench/run.sh reads): batch/create,
100 a call, straight to the simulator (not through the extension: the reads are measured, not
the writes).  Usage: seed.py SIM_URL FIRST LAST  -> contacts rFIRST..rLAST@example.com;
lifecyclestage 'lead' for every 500th, 'customer' otherwise."""
import json
import sys
import urllib.request

url, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for start in range(first, last + 1, 100):
    inputs = [{"properties": {"email": "r%d@example.com" % g, "firstname": "F%d" % g,
                              "lifecyclestage": "lead" if g % 500 == 0 else "customer"}}
              for g in range(start, min(start + 100, last + 1))]
    req = urllib.request.Request(url + "/crm/v3/objects/contacts/batch/create",
                                 data=json.dumps({"inputs": inputs}).encode(),
                                 headers={"Authorization": "Bearer pat-test",
                                          "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        if r.status >= 300:
            sys.exit("seed: HTTP %d" % r.status)
