"""Unit tests for the HubSpot simulator.

    /usr/bin/python3 -m unittest discover -s test -p 'test_*.py'
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hubspot_sim  # noqa: E402

V3 = "/crm/v3/objects/"
AUTH = {"Authorization": "Bearer pat-test", "Content-Type": "application/json"}
RO = {"Authorization": "Bearer pat-readonly", "Content-Type": "application/json"}
UUID_LEN = 36


class SimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = hubspot_sim.start_in_thread()
        cls.port = cls.srv.server_address[1]

    @classmethod
    def tearDownClass(cls):
        cls.srv.shutdown()
        cls.srv.server_close()

    def setUp(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.ctl("POST", "/_sim/reset", {})

    def tearDown(self):
        self.conn.close()

    # ------------------------------------------------------------------ helpers
    def req(self, method, path, body=None, headers=None, raw=None):
        """-> (status, parsed body or None, headers dict with lower-case names)"""
        h = dict(AUTH if headers is None else headers)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        self.conn.request(method, path, data, h)
        r = self.conn.getresponse()
        payload = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        parsed = json.loads(payload) if payload else None
        return r.status, parsed, hdrs

    def raw_req(self, method, path, body=None, headers=None, conn=None):
        """-> (status, raw body bytes, headers dict with lower-case names)"""
        c = conn or self.conn
        h = dict(AUTH if headers is None else headers)
        c.request(method, path, json.dumps(body) if body is not None else None, h)
        r = c.getresponse()
        payload = r.read()
        return r.status, payload, {k.lower(): v for k, v in r.getheaders()}

    def fault(self, **kw):
        return self.ctl("POST", "/_sim/faults", kw)

    def log(self):
        return self.ctl("GET", "/_sim/requests")["requests"]

    def ctl(self, method, path, body=None):
        st, b, _ = self.req(method, path, body, {"Content-Type": "application/json"})
        self.assertEqual(st, 200, b)
        return b

    def config(self, **kw):
        return self.ctl("POST", "/_sim/config", kw)

    def upsert(self, inputs, t="contacts", prefix=V3, headers=None):
        return self.req("POST", prefix + t + "/batch/upsert", {"inputs": inputs}, headers)

    def objects(self, t="contacts"):
        return [o for o in self.ctl("GET", "/_sim/objects/" + t)["results"] if not o["archived"]]

    @staticmethod
    def ci(email, **props):
        return {"id": email, "idProperty": "email", "properties": props}

    def assert_error(self, status, body, hdrs, want_status, category=None):
        self.assertEqual(status, want_status, body)
        self.assertEqual(body["status"], "error")
        self.assertEqual(body["correlationId"], hdrs["x-hubspot-correlation-id"])
        self.assertEqual(len(body["correlationId"]), UUID_LEN)
        if category is not None:
            self.assertEqual(body.get("category"), category)

    # ------------------------------------------------------------------ auth
    def test_401_missing_and_unknown_token(self):
        for hdr in ({"Content-Type": "application/json"},
                    {"Authorization": "Bearer nope", "Content-Type": "application/json"}):
            st, b, h = self.upsert([self.ci("a@x.com")], headers=hdr)
            self.assert_error(st, b, h, 401, "INVALID_AUTHENTICATION")
            self.assertEqual(set(b), {"status", "message", "correlationId", "category"})
            self.assertEqual(b["message"], hubspot_sim.MSG_401)
            self.assertEqual(h["x-hubspot-auth-failure"], "401 Unauthorized")
            self.assertNotIn("x-hubspot-ratelimit-max", h)
        self.assertEqual(self.objects(), [])

    def test_403_missing_scopes(self):
        st, b, h = self.upsert([self.ci("a@x.com")], headers=RO)
        self.assert_error(st, b, h, 403, "MISSING_SCOPES")
        self.assertEqual(b["errors"][0]["context"]["requiredGranularScopes"],
                         ["crm.objects.contacts.write"])
        self.assertEqual(b["links"]["scopes"], "https://developers.hubspot.com/scopes")
        st, b, h = self.req("POST", V3 + "tickets/batch/create",
                            {"inputs": [{"properties": {}}]}, RO)
        self.assertEqual(st, 403)
        self.assertEqual(b["errors"][0]["context"]["requiredGranularScopes"], ["tickets"])
        st, b, h = self.req("POST", V3 + "2-77/batch/create",
                            {"inputs": [{"properties": {}}]}, RO)
        self.assertEqual(b["errors"][0]["context"]["requiredGranularScopes"],
                         ["crm.objects.custom.write"])
        # reads are fine with read scopes
        self.assertEqual(self.req("GET", V3 + "contacts", headers=RO)[0], 200)
        self.assertEqual(self.req("GET", "/crm/v3/properties/deals", headers=RO)[0], 200)
        # a token with only a write scope may read too
        self.config(tokens={"pat-w": ["crm.objects.contacts.write"], "pat-readonly": None})
        w = {"Authorization": "Bearer pat-w", "Content-Type": "application/json"}
        self.assertEqual(self.req("GET", V3 + "contacts", headers=w)[0], 200)
        self.assertEqual(self.upsert([self.ci("a@x.com")], headers=w)[0], 200)
        self.assertEqual(self.req("GET", V3 + "companies", headers=w)[0], 403)
        self.assertEqual(self.req("GET", V3 + "contacts", headers=RO)[0], 401)

    # ------------------------------------------------------------------ batch limits
    def test_more_than_100_inputs(self):
        st, b, h = self.upsert([self.ci("u%d@x.com" % i) for i in range(101)])
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertEqual(b["message"], "The maximum number of inputs supported in a batch is 100. "
                         "Please reduce the number of items and try again")
        self.assertEqual(self.objects(), [])
        self.assertEqual(self.upsert([self.ci("u%d@x.com" % i) for i in range(100)])[0], 200)

    def test_zero_inputs(self):
        st, b, h = self.upsert([])
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")

    def test_duplicate_ids(self):
        for trace in (False, True):
            inputs = [self.ci("Dup@x.com", firstname="A"), self.ci("dup@X.com", firstname="B")]
            if trace:
                for i, inp in enumerate(inputs):
                    inp["objectWriteTraceId"] = str(i)
            st, b, h = self.upsert(inputs)
            self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
            self.assertEqual(b["message"],
                             "Duplicate IDs found in batch input: [dup@x.com]. IDs must be unique")
            self.assertEqual(b["context"], {"ids": ["dup@x.com"]})
        self.assertEqual(self.objects(), [])
        st, b, _ = self.upsert([self.ci("a@x.com")])
        rid = b["results"][0]["id"]
        for op, inputs in (("update", [{"id": rid, "properties": {}}] * 2),
                           ("archive", [{"id": rid}] * 2)):
            st, b, h = self.req("POST", V3 + "contacts/batch/" + op, {"inputs": inputs})
            self.assertEqual(st, 400, op)
            self.assertEqual(b["context"], {"ids": [rid]})
        st, b, h = self.req("POST", V3 + "contacts/batch/read",
                            {"inputs": [{"id": rid}, {"id": rid}], "properties": []})
        self.assertEqual(st, 400)
        self.assertIn("Duplicate IDs found in batch input: [%s]" % rid, b["message"])
        self.assertEqual(len(self.objects()), 1)

    def test_non_unique_id_property(self):
        st, b, h = self.upsert([{"id": "x.com", "idProperty": "domain", "properties": {}}],
                               "companies")
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertEqual(b["message"],
                         "Unable to perform update/upsert by non-unique 0-2 property domain")
        st, b, h = self.upsert([{"id": "1", "idProperty": "hs_object_id", "properties": {}}],
                               "0-2")
        self.assertEqual(b["message"],
                         "Unable to perform update/upsert by non-unique 0-2 property hs_object_id")
        # contacts: email keys upserts but not batch/update
        st, b, _ = self.upsert([self.ci("a@x.com")])
        self.assertEqual(st, 200)
        st, b, h = self.req("POST", V3 + "contacts/batch/update", {"inputs": [
            {"id": "a@x.com", "idProperty": "email", "properties": {"firstname": "Z"}}]})
        self.assertEqual(st, 400)
        self.assertEqual(b["message"],
                         "Unable to perform update/upsert by non-unique 0-1 property email")
        # a unique custom property works for both
        st, b, _ = self.upsert([{"id": "C1", "idProperty": "company_code",
                                 "properties": {"name": "Acme"}}], "companies")
        self.assertEqual(st, 200)
        self.assertEqual(b["results"][0]["properties"]["company_code"], "C1")
        st, b, _ = self.req("POST", V3 + "companies/batch/update", {"inputs": [
            {"id": "C1", "idProperty": "company_code", "properties": {"name": "Acme2"}}]})
        self.assertEqual(st, 200)
        self.assertEqual(b["results"][0]["properties"]["name"], "Acme2")

    def test_upsert_requires_id_and_id_property(self):
        st, b, h = self.upsert([{"id": "a@x.com", "properties": {}}])
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertIn("idProperty", b["message"])
        st, b, h = self.upsert([{"idProperty": "email", "properties": {}}])
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        st, b, h = self.upsert([{"id": "a@x.com", "idProperty": "email"}])
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertIn("properties", b["message"])

    # ------------------------------------------------------------------ partial failure
    def test_unknown_property_400_without_trace_ids(self):
        st, b, h = self.upsert([self.ci("good@x.com", firstname="G"),
                                self.ci("bad@x.com", nosuch="1")])
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertTrue(b["message"].startswith("Property values were not valid: ["))
        entries = json.loads(b["message"][len("Property values were not valid: "):])
        self.assertEqual(entries, [{"isValid": False, "message": 'Property "nosuch" does not exist',
                                    "error": "PROPERTY_DOESNT_EXIST", "name": "nosuch",
                                    "localizedErrorMessage": 'Property "nosuch" does not exist'}])
        self.assertEqual(b["errors"], [{"message": 'Property "nosuch" does not exist',
                                        "code": "PROPERTY_DOESNT_EXIST",
                                        "context": {"propertyName": ["nosuch"]}}])
        self.assertEqual(self.objects(), [])

    def test_unknown_property_207_with_trace_ids(self):
        st, b, h = self.upsert([dict(self.ci("good@x.com", firstname="G"), objectWriteTraceId="t1"),
                                dict(self.ci("bad@x.com", nosuch="1"), objectWriteTraceId="t2")])
        self.assertEqual(st, 207, b)
        self.assertEqual(b["status"], "COMPLETE")
        self.assertEqual(b["numErrors"], 1)
        err = b["errors"][0]
        self.assertEqual(set(err), {"status", "category", "message", "context"})
        self.assertEqual(err["category"], "VALIDATION_ERROR")
        self.assertEqual(err["context"], {"objectWriteTraceId": ["t2"]})
        self.assertIn("PROPERTY_DOESNT_EXIST", err["message"])
        self.assertEqual([r["objectWriteTraceId"] for r in b["results"]], ["t1"])
        self.assertEqual([o["properties"]["email"] for o in self.objects()], ["good@x.com"])
        # same version on the 2026-03 path
        st, b, _ = self.upsert([dict(self.ci("b2@x.com", nosuch="1"), objectWriteTraceId="t")],
                               prefix="/crm/objects/2026-03/")
        self.assertEqual(st, 207)
        self.assertEqual(b["results"], [])

    def test_trace_ids_must_be_on_every_input_and_unique(self):
        for traces in (("t1", None), ("t1", "t1"), ("t1", "")):
            inputs = [self.ci("good@x.com"), self.ci("bad@x.com", nosuch="1")]
            for inp, t in zip(inputs, traces):
                if t is not None:
                    inp["objectWriteTraceId"] = t
            self.assertEqual(self.upsert(inputs)[0], 400, traces)
        self.assertEqual(self.objects(), [])

    def test_2026_09_partial_is_200_with_errors(self):
        prefix = "/crm/objects/2026-09/"
        st, b, _ = self.upsert([dict(self.ci("good@x.com"), objectWriteTraceId="1"),
                                dict(self.ci("bad@x.com", lifetime_value="1e5"),
                                     objectWriteTraceId="2")], prefix=prefix)
        self.assertEqual(st, 200, b)
        self.assertEqual(b["numErrors"], 1)
        self.assertEqual(b["errors"][0]["context"], {"objectWriteTraceId": ["2"]})
        st, b, _ = self.req("POST", prefix + "contacts/batch/create", {"inputs": [
            {"properties": {"email": "c@x.com"}, "objectWriteTraceId": "a"},
            {"properties": {"is_vip": "maybe"}, "objectWriteTraceId": "b"}]})
        self.assertEqual(st, 201, b)
        self.assertEqual(b["numErrors"], 1)
        st, b, _ = self.req("POST", V3 + "contacts/batch/create", {"inputs": [
            {"properties": {"email": "d@x.com"}, "objectWriteTraceId": "a"},
            {"properties": {"is_vip": "maybe"}, "objectWriteTraceId": "b"}]})
        self.assertEqual(st, 207, b)
        # update with missing ids on 2026-09: 200 + OBJECT_NOT_FOUND
        st, b, _ = self.req("POST", prefix + "contacts/batch/update",
                            {"inputs": [{"id": "999999", "properties": {}}]})
        self.assertEqual(st, 200)
        self.assertEqual(b["errors"][0]["category"], "OBJECT_NOT_FOUND")

    # ------------------------------------------------------------------ upsert semantics
    def test_email_lowercased_and_matched_case_insensitively(self):
        st, b, _ = self.upsert([self.ci("Ada@Example.COM", firstname="Ada")])
        self.assertEqual(st, 200)
        r = b["results"][0]
        self.assertTrue(r["new"])
        self.assertEqual(r["properties"]["email"], "ada@example.com")
        st, b, _ = self.upsert([self.ci("ADA@example.com", lastname="L")])
        r2 = b["results"][0]
        self.assertFalse(r2["new"])
        self.assertEqual(r2["id"], r["id"])
        self.assertEqual(r2["properties"]["firstname"], "Ada")
        self.assertEqual(r2["properties"]["lastname"], "L")
        objs = self.objects()
        self.assertEqual(len(objs), 1)
        # an email property written in mixed case is stored lowercased too
        st, b, _ = self.upsert([{"id": "E1", "idProperty": "external_id",
                                 "properties": {"email": "MiXed@X.com"}}])
        self.assertEqual(b["results"][0]["properties"]["email"], "mixed@x.com")

    def test_result_shape(self):
        st, b, h = self.upsert([dict(self.ci("a@x.com", firstname="A"), objectWriteTraceId="9")])
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json;charset=utf-8")
        self.assertEqual(set(b), {"status", "results", "startedAt", "completedAt"})
        self.assertRegex(b["startedAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        r = b["results"][0]
        self.assertEqual(set(r), {"id", "properties", "createdAt", "updatedAt", "archived",
                                  "objectWriteTraceId", "new"})
        self.assertTrue(r["id"].isdigit())
        self.assertFalse(r["archived"])
        for k in ("hs_object_id", "createdate", "lastmodifieddate"):
            self.assertIn(k, r["properties"])
        self.assertEqual(r["properties"]["hs_object_id"], r["id"])
        st, b, _ = self.upsert([self.ci("b@x.com")])
        self.assertGreater(int(b["results"][0]["id"]), int(r["id"]))

    def test_results_are_shuffled(self):
        inputs = [self.ci("u%02d@x.com" % i) for i in range(20)]
        st, b, _ = self.upsert(inputs)
        got = [r["properties"]["email"] for r in b["results"]]
        want = [i["id"] for i in inputs]
        self.assertNotEqual(got, want)
        self.assertEqual(sorted(got), sorted(want))
        st, b, _ = self.upsert(inputs[:2])
        self.assertEqual([r["properties"]["email"] for r in b["results"]], want[1::-1])
        self.config(shuffle_results=False)
        st, b, _ = self.upsert(inputs)
        self.assertEqual([r["properties"]["email"] for r in b["results"]], want)
        self.config(shuffle_results="reverse")
        st, b, _ = self.upsert(inputs)
        self.assertEqual([r["properties"]["email"] for r in b["results"]], want[::-1])

    def test_unique_value_conflict_is_per_input_error(self):
        self.upsert([{"id": "E1", "idProperty": "external_id",
                      "properties": {"email": "a@x.com"}}])
        st, b, _ = self.upsert([{"id": "E2", "idProperty": "external_id",
                                 "properties": {"email": "A@x.com"}}])
        self.assertEqual(st, 400)
        st, b, _ = self.upsert([{"id": "E2", "idProperty": "external_id",
                                 "properties": {"email": "A@x.com"}, "objectWriteTraceId": "1"},
                                {"id": "E3", "idProperty": "external_id",
                                 "properties": {}, "objectWriteTraceId": "2"}])
        self.assertEqual(st, 207)
        self.assertEqual(b["errors"][0]["context"]["objectWriteTraceId"], ["1"])
        self.assertEqual(len(self.objects()), 2)

    # ------------------------------------------------------------------ update / create / archive
    def test_update_not_found_aggregated(self):
        st, b, _ = self.upsert([self.ci("a@x.com")])
        rid = b["results"][0]["id"]
        st, b, h = self.req("POST", V3 + "contacts/batch/update", {"inputs": [
            {"id": rid, "properties": {"firstname": "New"}},
            {"id": "999991", "properties": {"firstname": "X"}},
            {"id": "999992", "properties": {"firstname": "Y"}}]})
        self.assertEqual(st, 207, b)
        self.assertEqual(b["numErrors"], 1)
        self.assertEqual(b["errors"][0], {
            "status": "error", "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
                       "Check that ids are valid.",
            "context": {"ids": ["999991", "999992"]}})
        self.assertEqual([r["id"] for r in b["results"]], [rid])
        self.assertEqual(self.objects()[0]["properties"]["firstname"], "New")
        st, b, _ = self.req("POST", V3 + "line_items/batch/update",
                            {"inputs": [{"id": "5", "properties": {}}]})
        self.assertIn("some LINE_ITEM objects", b["errors"][0]["message"])

    def test_create_201_and_409(self):
        st, b, _ = self.req("POST", V3 + "contacts/batch/create", {"inputs": [
            {"properties": {"email": "Ann@x.com", "firstname": "Ann"}},
            {"properties": {"firstname": "NoMail"}}]})
        self.assertEqual(st, 201, b)
        self.assertEqual(len(b["results"]), 2)
        self.assertNotIn("new", b["results"][0])
        ann = [r for r in b["results"] if r["properties"].get("email") == "ann@x.com"][0]
        st, b, h = self.req("POST", V3 + "contacts/batch/create", {"inputs": [
            {"properties": {"email": "zed@x.com"}},
            {"properties": {"email": "ANN@x.com"}}]})
        self.assert_error(st, b, h, 409, "CONFLICT")
        self.assertEqual(b["message"], "Contact already exists. Existing ID: %s" % ann["id"])
        self.assertEqual(len(self.objects()), 2)
        # single-object create
        st, b, _ = self.req("POST", V3 + "deals", {"properties": {"dealname": "D"}})
        self.assertEqual(st, 201)
        self.assertEqual(b["properties"]["dealname"], "D")

    def test_archive_204(self):
        st, b, _ = self.upsert([self.ci("a@x.com"), self.ci("b@x.com")])
        ids = {r["properties"]["email"]: r["id"] for r in b["results"]}
        self.conn.request("POST", V3 + "contacts/batch/archive",
                          json.dumps({"inputs": [{"id": ids["a@x.com"]}, {"id": "424242"}]}),
                          AUTH)
        r = self.conn.getresponse()
        self.assertEqual(r.status, 204)
        self.assertEqual(r.read(), b"")
        self.assertEqual([o["properties"]["email"] for o in self.objects()], ["b@x.com"])
        st, b, _ = self.req("GET", V3 + "contacts")
        self.assertEqual([r["id"] for r in b["results"]], [ids["b@x.com"]])
        st, b, _ = self.req("GET", V3 + "contacts?archived=true")
        self.assertEqual([r["id"] for r in b["results"]], [ids["a@x.com"]])
        self.assertTrue(b["results"][0]["archived"])
        self.assertEqual(self.req("GET", V3 + "contacts/" + ids["a@x.com"])[0], 404)
        # upsert of the archived email creates a new record
        st, b, _ = self.upsert([self.ci("a@x.com")])
        self.assertTrue(b["results"][0]["new"])
        self.assertNotEqual(b["results"][0]["id"], ids["a@x.com"])
        # DELETE single
        self.conn.request("DELETE", V3 + "contacts/" + ids["b@x.com"], headers=AUTH)
        r = self.conn.getresponse()
        r.read()
        self.assertEqual(r.status, 204)
        self.assertEqual(len(self.objects()), 1)

    # ------------------------------------------------------------------ reads
    def test_batch_read(self):
        st, b, _ = self.upsert([self.ci("a@x.com", firstname="A", lastname="L", city="P"),
                                self.ci("b@x.com", firstname="B")])
        ids = {r["properties"]["email"]: r["id"] for r in b["results"]}
        st, b, _ = self.req("POST", V3 + "contacts/batch/read?archived=false", {
            "inputs": [{"id": ids["a@x.com"]}, {"id": "777"}], "properties": ["firstname", "phone",
                                                                              "nosuch"]})
        self.assertEqual(st, 207, b)
        r = b["results"][0]
        self.assertEqual(r["properties"], {
            "firstname": "A", "phone": None, "hs_object_id": ids["a@x.com"],
            "createdate": r["createdAt"], "lastmodifieddate": r["updatedAt"]})
        self.assertEqual(b["errors"][0]["context"], {"ids": ["777"]})
        st, b, _ = self.req("POST", V3 + "contacts/batch/read", {
            "idProperty": "email", "inputs": [{"id": "A@X.com"}, {"id": "b@x.com"}],
            "properties": ["email"]})
        self.assertEqual(st, 200)
        self.assertEqual(sorted(r["id"] for r in b["results"]), sorted(ids.values()))
        st, b, _ = self.req("POST", V3 + "contacts/batch/read", {
            "inputs": [{"id": str(i)} for i in range(51)], "properties": [],
            "propertiesWithHistory": ["firstname"]})
        self.assertEqual(st, 400)
        self.assertEqual(b["message"], hubspot_sim.MSG_TOO_MANY_HIST)
        st, b, _ = self.req("POST", V3 + "contacts/batch/read", {
            "inputs": [{"id": ids["b@x.com"]}], "propertiesWithHistory": ["firstname"]})
        self.assertEqual(b["results"][0]["propertiesWithHistory"]["firstname"][0]["value"], "B")
        st, b, _ = self.req("POST", V3 + "contacts/batch/read", {
            "inputs": [{"id": str(i)} for i in range(101)]})
        self.assertEqual(b["message"], hubspot_sim.MSG_TOO_MANY)

    def test_list_paging(self):
        self.upsert([self.ci("u%02d@x.com" % i, firstname="F%d" % i) for i in range(25)])
        seen = []
        after = None
        pages = 0
        while True:
            path = V3 + "contacts?limit=10&properties=firstname&properties=email,lastname"
            if after:
                path += "&after=" + after
            st, b, _ = self.req("GET", path)
            self.assertEqual(st, 200)
            pages += 1
            seen += [r["id"] for r in b["results"]]
            self.assertEqual(set(b["results"][0]["properties"]),
                             {"firstname", "email", "lastname", "hs_object_id", "createdate",
                              "lastmodifieddate"})
            if "paging" not in b:
                break
            after = b["paging"]["next"]["after"]
            self.assertEqual(int(after), int(seen[-1]) + 1)
        self.assertEqual(pages, 3)
        self.assertEqual(seen, sorted(seen, key=int))
        self.assertEqual(len(set(seen)), 25)
        st, b, _ = self.req("GET", V3 + "contacts")
        self.assertEqual(len(b["results"]), 10)
        self.assertEqual(self.req("GET", V3 + "contacts?limit=101")[0], 400)
        self.assertEqual(len(self.req("GET", V3 + "contacts?limit=100")[1]["results"]), 25)

    def test_get_one(self):
        st, b, _ = self.upsert([self.ci("a@x.com", firstname="A")])
        rid = b["results"][0]["id"]
        st, b, _ = self.req("GET", V3 + "contacts/" + rid + "?properties=firstname")
        self.assertEqual(st, 200)
        self.assertEqual(b["properties"]["firstname"], "A")
        st, b, _ = self.req("GET", V3 + "contacts/A%40x.com?idProperty=email")
        self.assertEqual(b["id"], rid)
        st, b, h = self.req("GET", V3 + "contacts/123456")
        self.assert_error(st, b, h, 404, "OBJECT_NOT_FOUND")
        self.assertEqual(b["message"], "Resource not found")
        st, b, _ = self.req("PATCH", V3 + "contacts/" + rid, {"properties": {"lastname": "Z"}})
        self.assertEqual((st, b["properties"]["lastname"]), (200, "Z"))
        self.assertEqual(self.req("PATCH", V3 + "contacts/55", {"properties": {}})[0], 404)

    def test_search(self):
        self.config(search_rate_limit=0)
        self.upsert([self.ci("u%02d@x.com" % i, firstname="F%d" % i, lifetime_value=str(i),
                             city="Paris" if i % 2 else "Rome") for i in range(30)])
        s = V3 + "contacts/search"

        def search(body):
            st, b, h = self.req("POST", s, body)
            self.assertEqual(st, 200, b)
            self.assertFalse([k for k in h if k.startswith("x-hubspot-ratelimit")])
            return b

        def flt(*filters, **kw):
            return dict({"filterGroups": [{"filters": list(filters)}], "limit": 100}, **kw)
        b = search(flt({"propertyName": "lifetime_value", "operator": "GTE", "value": "25"}))
        self.assertEqual(b["total"], 5)
        b = search(flt({"propertyName": "lifetime_value", "operator": "LT", "value": "3"}))
        self.assertEqual(b["total"], 3)
        b = search(flt({"propertyName": "lifetime_value", "operator": "BETWEEN", "value": "3",
                        "highValue": "5"}))
        self.assertEqual(b["total"], 3)
        b = search(flt({"propertyName": "city", "operator": "EQ", "value": "paris"}))
        self.assertEqual(b["total"], 15)
        b = search(flt({"propertyName": "city", "operator": "NEQ", "value": "paris"}))
        self.assertEqual(b["total"], 15)
        b = search(flt({"propertyName": "email", "operator": "IN",
                        "values": ["u01@x.com", "u02@x.com", "nobody@x.com"]}))
        self.assertEqual(b["total"], 2)
        b = search(flt({"propertyName": "email", "operator": "NOT_IN", "values": ["u01@x.com"]}))
        self.assertEqual(b["total"], 29)
        b = search(flt({"propertyName": "phone", "operator": "HAS_PROPERTY"}))
        self.assertEqual(b["total"], 0)
        b = search(flt({"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"}))
        self.assertEqual(b["total"], 30)
        b = search(flt({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "u1*"}))
        self.assertEqual(b["total"], 10)
        b = search(flt({"propertyName": "firstname", "operator": "CONTAINS_TOKEN", "value": "f7"}))
        self.assertEqual(b["total"], 1)
        # OR of groups, AND inside a group
        b = search({"filterGroups": [
            {"filters": [{"propertyName": "lifetime_value", "operator": "EQ", "value": "1"}]},
            {"filters": [{"propertyName": "lifetime_value", "operator": "GT", "value": "27"},
                         {"propertyName": "city", "operator": "EQ", "value": "Rome"}]}]})
        self.assertEqual(b["total"], 2)
        # paging, sort, properties
        b = search({"limit": 10, "sorts": [{"propertyName": "lifetime_value",
                                            "direction": "DESCENDING"}],
                    "properties": ["lifetime_value"]})
        self.assertEqual(b["total"], 30)
        self.assertEqual(b["results"][0]["properties"]["lifetime_value"], "29")
        self.assertEqual(b["paging"]["next"]["after"], "10")
        b = search({"limit": 10, "after": "20"})
        self.assertNotIn("paging", b)
        # limits
        for body in ({"limit": 201},
                     {"filterGroups": [{"filters": []}] * 6},
                     {"filterGroups": [{"filters": [{"propertyName": "city",
                                                     "operator": "HAS_PROPERTY"}] * 7}]},
                     {"filterGroups": [{"filters": [{"propertyName": "city",
                                                     "operator": "HAS_PROPERTY"}] * 6}] * 4},
                     {"after": "10000", "limit": 10}):
            st, b, h = self.req("POST", s, body)
            self.assert_error(st, b, h, 400, "VALIDATION_ERROR")

    def test_search_secondly_limit(self):
        s = V3 + "contacts/search"
        statuses = [self.req("POST", s, {})[0] for _ in range(6)]
        self.assertEqual(statuses, [200] * 5 + [429])
        st, b, h = self.req("POST", s, {})
        self.assertEqual(st, 429)
        self.assertEqual(b["policyName"], "SECONDLY")
        self.assertEqual(b["message"], "You have reached your secondly limit.")
        self.assertEqual(b["errorType"], "RATE_LIMIT")
        self.assertNotIn("x-hubspot-ratelimit-max", h)
        # the ten-secondly window is not used by search
        self.assertEqual(self.req("GET", V3 + "contacts")[2]["x-hubspot-ratelimit-remaining"],
                         str(hubspot_sim.UNLIMITED_REPORTED_MAX - 1))

    # ------------------------------------------------------------------ properties API
    def test_properties_api(self):
        for path in ("/crm/v3/properties/contacts", "/crm/properties/2026-03/0-1",
                     "/crm/properties/2026-09/contacts"):
            st, b, _ = self.req("GET", path)
            self.assertEqual(st, 200)
            props = {p["name"]: p for p in b["results"]}
            self.assertEqual(set(b), {"results"})
            for n in ("email", "firstname", "lifecyclestage", "hs_object_id", "lifetime_value",
                      "is_vip", "birthdate", "last_seen", "interests", "external_id"):
                self.assertIn(n, props)
        p = props["interests"]
        for k in ("name", "label", "type", "fieldType", "groupName", "description", "options",
                  "displayOrder", "hasUniqueValue", "hidden", "formField", "calculated",
                  "modificationMetadata", "hubspotDefined"):
            self.assertIn(k, p)
        self.assertEqual((p["type"], p["fieldType"]), ("enumeration", "checkbox"))
        self.assertEqual([o["value"] for o in p["options"]], ["a", "b", "c"])
        self.assertTrue(props["external_id"]["hasUniqueValue"])
        self.assertFalse(props["email"]["hasUniqueValue"])
        self.assertTrue(props["createdate"]["modificationMetadata"]["readOnlyValue"])
        self.assertEqual(props["is_vip"]["type"], "bool")
        st, b, _ = self.req("GET", "/crm/v3/properties/companies/company_code")
        self.assertEqual((st, b["name"], b["hasUniqueValue"]), (200, "company_code", True))
        st, b, _ = self.req("GET", "/crm/v3/properties/companies")
        self.assertFalse({p["name"]: p for p in b["results"]}["domain"]["hasUniqueValue"])
        st, b, h = self.req("GET", "/crm/v3/properties/companies/nosuch")
        self.assert_error(st, b, h, 404)
        st, b, _ = self.req("GET", "/crm/v3/properties/p_vendor")
        self.assertIn("external_id", [p["name"] for p in b["results"]])

    def test_custom_schema_via_control_api(self):
        self.ctl("POST", "/_sim/properties/2-123", {"properties": [
            {"name": "code", "type": "string", "hasUniqueValue": True},
            {"name": "size", "type": "number"},
            {"name": "color", "type": "enumeration", "fieldType": "select",
             "options": [{"label": "Red", "value": "red"}]}]})
        st, b, _ = self.req("GET", "/crm/v3/properties/2-123")
        self.assertEqual({p["name"] for p in b["results"]},
                         {"code", "size", "color", "hs_object_id", "createdate",
                          "lastmodifieddate"})
        st, b, _ = self.upsert([{"id": "k1", "idProperty": "code",
                                 "properties": {"size": "3", "color": "red"}}], "2-123")
        self.assertEqual(st, 200, b)
        st, b, _ = self.upsert([{"id": "k2", "idProperty": "code",
                                 "properties": {"color": "blue"}}], "2-123")
        self.assertEqual(st, 400)
        self.assertIn("INVALID_OPTION", b["message"])
        st, b, _ = self.upsert([{"id": "k3", "idProperty": "code",
                                 "properties": {"other": "x"}}], "2-123")
        self.assertIn("PROPERTY_DOESNT_EXIST", b["message"])
        # reset restores the default custom-object schema (closed as well)
        self.ctl("POST", "/_sim/reset", {})
        st, b, _ = self.upsert([{"id": "k3", "idProperty": "external_id",
                                 "properties": {"other": "x"}}], "2-123")
        self.assertEqual(st, 400)
        self.assertIn("PROPERTY_DOESNT_EXIST", b["message"])
        st, b, _ = self.upsert([{"id": "k3", "idProperty": "external_id",
                                 "properties": {"name": "x", "amount": "2"}}], "2-123")
        self.assertEqual(st, 200, b)

    # ------------------------------------------------------------------ value validation
    def check_values(self, t, cases, key=None):
        """cases: (property, value, expected stored value | error code)."""
        for i, (prop, value, want) in enumerate(cases):
            if key is None:
                inp = {"id": "k%d" % i, "idProperty": "external_id" if t == "contacts" else
                       {"companies": "company_code", "deals": "deal_code",
                        "tickets": "ticket_code"}.get(t, "external_id"),
                       "properties": {prop: value}}
            st, b, _ = self.upsert([inp], t)
            label = "%s.%s=%r" % (t, prop, value)
            if want is not None and want.isupper() and "_" in want:
                self.assertEqual(st, 400, label)
                self.assertEqual(b["errors"][0]["code"], want, label)
                self.assertEqual(b["errors"][0]["context"], {"propertyName": [prop]}, label)
            else:
                self.assertEqual(st, 200, (label, b))
                self.assertEqual(b["results"][0]["properties"][prop], want, label)

    def test_values_contacts(self):
        self.check_values("contacts", [
            ("email", "Good@Example.com", "good@example.com"),
            ("email", "not an email", "INVALID_EMAIL"),
            ("email", "x@nodot", "INVALID_EMAIL"),
            ("lifetime_value", "12.50", "12.50"),
            ("lifetime_value", -3, "-3"),
            ("lifetime_value", 2.5, "2.5"),
            ("lifetime_value", "1,000", "INVALID_INTEGER"),
            ("lifetime_value", "1.2.3", "INVALID_INTEGER"),
            ("lifetime_value", "1e5", "INVALID_INTEGER"),
            ("is_vip", "true", "true"),
            ("is_vip", True, "true"),
            ("is_vip", "yes", "INVALID_BOOLEAN"),
            ("lifecyclestage", "lead", "lead"),
            ("lifecyclestage", "Lead", "INVALID_OPTION"),
            ("interests", "a;c", "a;c"),
            ("interests", "a;d", "INVALID_OPTION"),
            ("birthdate", "2020-02-29", "2020-02-29"),
            ("birthdate", "1430438400000", "2015-05-01"),
            ("birthdate", "1430438400001", "INVALID_DATE"),
            ("birthdate", "2020-02-30", "INVALID_DATE"),
            ("birthdate", "01/02/2020", "INVALID_DATE"),
            ("last_seen", "2020-02-29T03:30:17.000Z", "2020-02-29T03:30:17.000Z"),
            ("last_seen", "2020-02-29T05:30:17+02:00", "2020-02-29T03:30:17.000Z"),
            ("last_seen", "1427997766000", "2015-04-02T18:02:46.000Z"),
            ("last_seen", "yesterday", "INVALID_DATE"),
            ("firstname", "x" * 65536, "x" * 65536),
            ("firstname", "x" * 65537, "INVALID_LENGTH"),
            ("firstname", None, ""),
            ("hs_object_id", "5", "READ_ONLY_VALUE"),
            ("createdate", "2020-01-01", "READ_ONLY_VALUE"),
            ("nosuch", "1", "PROPERTY_DOESNT_EXIST"),
        ])

    def test_value_messages(self):
        cases = [("lifetime_value", "1,5", "1,5 was not a valid number."),
                 ("email", "a b@x.com", "Email address a b@x.com is invalid"),
                 ("interests", "z", "z was not one of the allowed options: [a, b, c]"),
                 ("birthdate", "1430438400001", "UTC, not midnight!")]
        for prop, value, msg in cases:
            st, b, _ = self.upsert([{"id": "k", "idProperty": "external_id",
                                     "properties": {prop: value}}])
            self.assertEqual(st, 400)
            self.assertTrue(b["errors"][0]["message"].endswith(msg), b["errors"][0]["message"])
        # an invalid upsert key is a value error as well
        st, b, _ = self.upsert([self.ci("not-an-email")])
        self.assertEqual(b["errors"][0]["code"], "INVALID_EMAIL")

    def test_values_other_types(self):
        self.check_values("companies", [("numberofemployees", "12", "12"),
                                        ("numberofemployees", "twelve", "INVALID_INTEGER"),
                                        ("domain", "x.com", "x.com")])
        self.check_values("deals", [("dealstage", "closedwon", "closedwon"),
                                    ("dealstage", "won", "INVALID_OPTION"),
                                    ("closedate", "2024-01-01T00:00:00Z",
                                     "2024-01-01T00:00:00.000Z"),
                                    ("amount", "10.5", "10.5")])
        self.check_values("tickets", [("hs_pipeline_stage", "1", "1"),
                                      ("hs_pipeline_stage", "9", "INVALID_OPTION")])
        # every type's schema is closed, subscriptions included
        self.check_values("subscriptions", [("anything", "v", "PROPERTY_DOESNT_EXIST"),
                                            ("hs_name", "v", "v"),
                                            ("hs_status", "active", "active"),
                                            ("hs_status", "Active", "INVALID_OPTION"),
                                            ("hs_object_id", "1", "READ_ONLY_VALUE")])

    def test_checkbox_leading_semicolon_appends(self):
        self.upsert([{"id": "k", "idProperty": "external_id",
                      "properties": {"interests": "a"}}])
        st, b, _ = self.upsert([{"id": "k", "idProperty": "external_id",
                                 "properties": {"interests": ";b;a"}}])
        self.assertEqual(b["results"][0]["properties"]["interests"], "a;b")
        st, b, _ = self.upsert([{"id": "k", "idProperty": "external_id",
                                 "properties": {"interests": "c"}}])
        self.assertEqual(b["results"][0]["properties"]["interests"], "c")

    def test_malformed_json(self):
        for raw in ('{"inputs": [', "[]", '{"inputs": {}}', '{"inputs": [1]}',
                    '{"inputs": [{"id": "a@x.com", "idProperty": "email", '
                    '"properties": {"firstname": {"x": 1}}}]}',
                    '{"inputs": [{"id": "a@x.com", "idProperty": "email", '
                    '"properties": {"firstname": ["a"]}}]}',
                    '{"inputs": [{"id": "a@x.com", "idProperty": "email", "properties": {}, '
                    '"bogus": 1}]}',
                    '{"inputs": [{"id": {"a": 1}, "idProperty": "email", "properties": {}}]}',
                    ""):
            st, b, h = self.req("POST", V3 + "contacts/batch/upsert", raw=raw)
            self.assertEqual(st, 400, raw)
            self.assertEqual(b["status"], "error")
            self.assertNotIn("category", b, raw)
            self.assertRegex(b["message"], r"^Invalid input JSON on line \d+, column \d+: ", raw)
            self.assertEqual(b["correlationId"], h["x-hubspot-correlation-id"])
        self.assertEqual(self.objects(), [])

    def test_415_content_type(self):
        h = {"Authorization": "Bearer pat-test", "Content-Type": "text/plain"}
        st, b, hdr = self.req("POST", V3 + "contacts/batch/upsert",
                              {"inputs": [self.ci("a@x.com")]}, h)
        self.assertEqual(st, 415)
        self.assertEqual(b["correlationId"], hdr["x-hubspot-correlation-id"])
        h["Content-Type"] = "application/json; charset=UTF-8"
        self.assertEqual(self.req("POST", V3 + "contacts/batch/upsert",
                                  {"inputs": [self.ci("a@x.com")]}, h)[0], 200)

    # ------------------------------------------------------------------ routing / types
    def test_unknown_object_type(self):
        for t in ("vendor", "widgets", "3-1"):
            st, b, h = self.upsert([self.ci("a@x.com")], t)
            self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
            self.assertEqual(b["message"], "Unable to infer object type from: %s" % t)
        st, b, _ = self.upsert([self.ci("a@x.com")], "contact%20s")
        self.assertEqual(b["message"], "Unable to infer object type from: contact s")

    def test_type_aliases_share_a_store(self):
        self.upsert([self.ci("a@x.com")], "0-1")
        self.assertEqual(len(self.objects("contacts")), 1)
        st, b, _ = self.req("GET", V3 + "contacts")
        self.assertEqual(len(b["results"]), 1)
        self.upsert([{"id": "v1", "idProperty": "external_id", "properties": {"name": "1"}}],
                    "p_vendor")
        st, b, _ = self.upsert([{"id": "v1", "idProperty": "external_id",
                                 "properties": {"name": "2"}}], "p123_vendor")
        self.assertFalse(b["results"][0]["new"])
        self.assertEqual(len(self.objects("p_vendor")), 1)
        self.assertEqual(self.upsert([{"id": "x", "idProperty": "external_id",
                                       "properties": {}}], "2-555")[0], 200)
        self.assertEqual(len(self.objects("2-555")), 1)

    def test_both_path_styles(self):
        for prefix in (V3, "/crm/objects/2026-03/", "/crm/objects/2026-09/",
                       "/crm/objects/2025-09/", "/crm/objects/2027-03/"):
            st, b, _ = self.upsert([self.ci("a@x.com")], prefix=prefix)
            self.assertEqual(st, 200, prefix)
            self.assertEqual(self.req("GET", prefix + "contacts")[0], 200)
        self.assertEqual(len(self.objects()), 1)
        self.assertEqual(self.upsert([self.ci("a@x.com")], prefix="/crm/objects/2024-01/")[0],
                         404)

    def test_unknown_path_and_method(self):
        st, b, h = self.req("GET", "/crm/v3/nothing/here")
        self.assert_error(st, b, h, 404)
        st, b, h = self.req("POST", V3 + "contacts/batch/merge", {"inputs": []})
        self.assertEqual(st, 404)
        st, b, h = self.req("GET", V3 + "contacts/batch/upsert")
        self.assert_error(st, b, h, 405)
        self.assertEqual(h["allow"], "POST")
        self.assertEqual(self.req("PUT", V3 + "contacts/1", {})[0], 405)
        self.assertEqual(self.req("POST", "/crm/v3/properties/contacts", {})[0], 405)

    def test_keep_alive_one_connection(self):
        self.req("GET", V3 + "contacts")
        sock = self.conn.sock
        self.assertIsNotNone(sock)
        for i in range(20):
            st, b, h = self.upsert([self.ci("k%d@x.com" % i)])
            self.assertEqual(st, 200)
            self.assertIn("content-length", h)
            self.assertIs(self.conn.sock, sock)
        self.assertEqual(self.req("POST", V3 + "contacts/batch/upsert", raw="{")[0], 400)
        self.assertIs(self.conn.sock, sock)
        self.assertEqual(self.req("GET", "/nope")[0], 404)
        self.assertIs(self.conn.sock, sock)

    # ------------------------------------------------------------------ rate limits
    def test_rate_limit_window_and_headers(self):
        self.config(rate_limit_max=3, rate_limit_interval_ms=400)
        rem = []
        for _ in range(3):
            st, b, h = self.req("GET", V3 + "contacts")
            self.assertEqual(st, 200)
            self.assertEqual(h["x-hubspot-ratelimit-max"], "3")
            self.assertEqual(h["x-hubspot-ratelimit-interval-milliseconds"], "400")
            self.assertEqual(h["x-hubspot-ratelimit-daily"], "250000")
            rem.append(h["x-hubspot-ratelimit-remaining"])
        self.assertEqual(rem, ["2", "1", "0"])
        for _ in range(3):                  # rejected calls do not use the window
            st, b, h = self.upsert([self.ci("a@x.com")])
            self.assertEqual(st, 429)
            self.assertEqual(set(b), {"status", "message", "errorType", "correlationId",
                                      "policyName"})
            self.assertEqual(b["message"], "You have reached your ten_secondly_rolling limit.")
            self.assertEqual(b["policyName"], "TEN_SECONDLY_ROLLING")
            self.assertEqual(b["errorType"], "RATE_LIMIT")
            self.assertEqual(b["correlationId"], h["x-hubspot-correlation-id"])
            self.assertNotIn("retry-after", h)
        time.sleep(0.45)
        st, b, h = self.req("GET", V3 + "contacts")
        self.assertEqual((st, h["x-hubspot-ratelimit-remaining"]), (200, "2"))
        self.assertEqual(h["x-hubspot-ratelimit-daily-remaining"], str(250000 - 4))
        # the call accepted after the sleep is still in the (now longer) window
        self.config(retry_after_on_429=2, rate_limit_max=1, rate_limit_interval_ms=10000)
        st, b, h = self.req("GET", V3 + "contacts")
        self.assertEqual((st, h.get("retry-after")), (429, "2"))
        self.assertEqual(h["x-hubspot-ratelimit-remaining"], "0")
        self.assertEqual(self.ctl("GET", "/_sim/stats")["rate_limited"], 4)
        self.config(send_rate_headers=False, rate_limit_max=0)
        st, b, h = self.req("GET", V3 + "contacts")
        self.assertNotIn("x-hubspot-ratelimit-max", h)

    def test_daily_limit(self):
        self.config(daily_limit=2)
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 200)
        st, b, h = self.req("GET", V3 + "contacts")
        self.assertEqual(h["x-hubspot-ratelimit-daily-remaining"], "0")
        st, b, h = self.req("GET", V3 + "contacts")
        self.assert_error(st, b, h, 429)
        self.assertEqual(b["policyName"], "DAILY")
        self.assertEqual(b["message"], "You have reached your daily limit.")
        # per token
        self.config(tokens={"pat-other": "all"})
        other = {"Authorization": "Bearer pat-other"}
        self.assertEqual(self.req("GET", V3 + "contacts", headers=other)[0], 200)
        self.ctl("POST", "/_sim/daily_reset", {})
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 200)

    # ------------------------------------------------------------------ faults
    def test_fault_statuses(self):
        self.ctl("POST", "/_sim/faults", {"status": 423, "count": 2})
        self.ctl("POST", "/_sim/faults", {"status": 477})
        self.ctl("POST", "/_sim/faults", {"status": 503, "headers": {"X-Extra": "1"}})
        self.ctl("POST", "/_sim/faults", {"status": 429})
        self.ctl("POST", "/_sim/faults", {"status": 500, "body": {"custom": True}})
        got = []
        for _ in range(7):
            st, b, h = self.upsert([self.ci("a@x.com")])
            got.append((st, b.get("category") or b.get("policyName") or b.get("custom"),
                        h.get("retry-after"), h.get("x-extra")))
            self.assertIn("x-hubspot-correlation-id", h)
        self.assertEqual(got, [(423, "LOCKED", None, None), (423, "LOCKED", None, None),
                               (477, "MIGRATION_IN_PROGRESS", "1", None),
                               (503, "INTERNAL_ERROR", None, "1"),
                               (429, "TEN_SECONDLY_ROLLING", None, None),
                               (500, True, None, None),
                               (200, None, None, None)])
        self.assertEqual(len(self.objects()), 1)
        log = self.ctl("GET", "/_sim/requests")["requests"]
        self.assertEqual([r["status"] for r in log], [423, 423, 477, 503, 429, 500, 200])

    def test_fault_before_auth_and_match(self):
        self.ctl("POST", "/_sim/faults", {"status": 502, "match": "/batch/upsert"})
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 200)
        st, _, _ = self.upsert([self.ci("a@x.com")], headers={"Authorization": "Bearer bad"})
        self.assertEqual(st, 502)
        self.assertEqual(self.upsert([self.ci("a@x.com")])[0], 200)
        self.ctl("POST", "/_sim/faults", {"status": 503, "count": -1})
        for _ in range(3):
            self.assertEqual(self.req("GET", V3 + "contacts")[0], 503)
        self.ctl("DELETE", "/_sim/faults")
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 200)

    def test_fault_delay(self):
        self.ctl("POST", "/_sim/faults", {"delay_ms": 300})
        t = time.time()
        st, _, _ = self.upsert([self.ci("a@x.com")])
        self.assertEqual(st, 200)
        self.assertGreaterEqual(time.time() - t, 0.29)
        self.ctl("POST", "/_sim/faults", {"delay_ms": 200, "status": 504})
        t = time.time()
        self.assertEqual(self.upsert([self.ci("b@x.com")])[0], 504)
        self.assertGreaterEqual(time.time() - t, 0.19)
        self.assertEqual(len(self.objects()), 1)

    def test_fault_drop(self):
        self.ctl("POST", "/_sim/faults", {"drop": True})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.upsert([self.ci("a@x.com")])
        self.conn.close()
        self.assertEqual(self.upsert([self.ci("a@x.com")])[0], 200)
        log = self.ctl("GET", "/_sim/requests")["requests"]
        self.assertEqual([r["status"] for r in log], [0, 200])
        self.assertEqual(self.ctl("GET", "/_sim/stats")["by_status"], {"0": 1, "200": 1})

    def test_fault_garbage(self):
        self.ctl("POST", "/_sim/faults", {"garbage": True})
        self.conn.request("POST", V3 + "contacts/batch/upsert",
                          json.dumps({"inputs": [self.ci("a@x.com")]}), AUTH)
        r = self.conn.getresponse()
        self.assertEqual(r.status, 200)
        with self.assertRaises(ValueError):
            json.loads(r.read())
        self.assertEqual(self.objects(), [])
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 200)   # connection still usable

    def test_fault_truncate(self):
        self.ctl("POST", "/_sim/faults", {"truncate": True})
        self.conn.request("POST", V3 + "contacts/batch/upsert",
                          json.dumps({"inputs": [self.ci("a@x.com")]}), AUTH)
        r = self.conn.getresponse()
        self.assertEqual(r.status, 200)
        with self.assertRaises(http.client.IncompleteRead):
            r.read()
        self.conn.close()
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 200)

    def test_fault_validation(self):
        st, b, _ = self.req("POST", "/_sim/faults", {"count": 1},
                            {"Content-Type": "application/json"})
        self.assertEqual(st, 400)
        st, b, _ = self.req("POST", "/_sim/faults", {"status": 500, "bogus": 1},
                            {"Content-Type": "application/json"})
        self.assertEqual(st, 400)

    # ------------------------------------------------------------------ modes and control API
    def test_sink_mode(self):
        self.config(mode="sink")
        st, b, _ = self.upsert([dict(self.ci("A@x.com", nosuch="1"), objectWriteTraceId="7"),
                                dict(self.ci("b@x.com"), objectWriteTraceId="8")])
        self.assertEqual(st, 200)
        self.assertEqual(sorted(r["objectWriteTraceId"] for r in b["results"]), ["7", "8"])
        self.assertEqual(sorted(r["properties"]["email"] for r in b["results"]),
                         ["a@x.com", "b@x.com"])
        self.assertEqual(self.objects(), [])
        self.assertEqual(self.req("POST", V3 + "contacts/batch/create",
                                  {"inputs": [{"properties": {}}]})[0], 201)
        self.assertEqual(self.ctl("GET", "/_sim/stats")["inputs"], 3)

    def test_request_log_and_stats(self):
        self.upsert([self.ci("a@x.com")])
        self.req("GET", V3 + "contacts?limit=5")
        log = self.ctl("GET", "/_sim/requests")["requests"]
        self.assertEqual(len(log), 2)
        r = log[0]
        for k in ("seq", "method", "path", "query", "headers", "body", "ninputs", "status",
                  "t_start", "t_end"):
            self.assertIn(k, r)
        self.assertEqual((r["method"], r["path"], r["status"], r["ninputs"]),
                         ("POST", "/crm/v3/objects/contacts/batch/upsert", 200, 1))
        self.assertEqual(r["headers"]["authorization"], "Bearer pat-test")
        self.assertEqual(r["body"]["inputs"][0]["id"], "a@x.com")
        self.assertEqual(log[1]["query"], "limit=5")
        since = self.ctl("GET", "/_sim/requests?since=%d" % r["seq"])["requests"]
        self.assertEqual([x["seq"] for x in since], [log[1]["seq"]])
        st = self.ctl("GET", "/_sim/stats")
        self.assertEqual((st["calls"], st["by_status"], st["inputs"], st["max_in_flight"]),
                         (2, {"200": 2}, 1, 1))
        self.assertLessEqual(st["first_t"], st["last_t"])
        self.ctl("DELETE", "/_sim/requests")
        self.assertEqual(self.ctl("GET", "/_sim/requests")["requests"], [])
        self.config(record_bodies=False)
        self.upsert([self.ci("b@x.com")])
        r = self.ctl("GET", "/_sim/requests")["requests"][0]
        self.assertNotIn("body", r)
        self.assertEqual(r["ninputs"], 1)
        # control calls are not logged and need no auth
        self.assertEqual(len(self.ctl("GET", "/_sim/requests")["requests"]), 1)
        st, b, _ = self.req("GET", "/_sim/nothing", headers={})
        self.assertEqual(st, 404)
        st, b, _ = self.req("POST", "/_sim/config", {"nosuch": 1},
                            {"Content-Type": "application/json"})
        self.assertEqual(st, 400)

    def test_max_in_flight_and_latency(self):
        import threading
        self.config(latency_ms=150)
        errs = []

        def one():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            c.request("GET", V3 + "contacts", headers=AUTH)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errs.append(r.status)
            c.close()
        t0 = time.time()
        ts = [threading.Thread(target=one) for _ in range(4)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        self.assertFalse(errs)
        self.assertGreaterEqual(time.time() - t0, 0.14)
        self.assertEqual(self.ctl("GET", "/_sim/stats")["max_in_flight"], 4)

    def test_reset_clears_everything(self):
        self.upsert([self.ci("a@x.com")])
        self.config(rate_limit_max=1, mode="sink")
        self.ctl("POST", "/_sim/faults", {"status": 500, "match": "/nothing"})
        self.ctl("POST", "/_sim/reset", {})
        cfg = self.ctl("GET", "/_sim/config")
        self.assertEqual((cfg["rate_limit_max"], cfg["mode"]), (0, "normal"))
        self.assertEqual(self.ctl("GET", "/_sim/faults")["faults"], [])
        self.assertEqual(self.ctl("GET", "/_sim/stats")["calls"], 0)
        self.assertEqual(self.objects(), [])
        st, b, _ = self.upsert([self.ci("a@x.com")])
        self.assertEqual(b["results"][0]["id"], str(hubspot_sim.FIRST_ID))

    # ------------------------------------------------------------------ simctl
    def simctl(self, *args):
        env = dict(os.environ, HUBSPOT_SIM_URL="http://127.0.0.1:%d" % self.port)
        p = subprocess.run([sys.executable, os.path.join(HERE, "simctl.py")] + list(args),
                           capture_output=True, text=True, env=env, timeout=30)
        return p.returncode, p.stdout, p.stderr

    def test_simctl(self):
        self.upsert([self.ci("Ada@x.com", firstname="Ada"), self.ci("bob@x.com")])
        self.req("GET", V3 + "contacts")
        self.assertEqual(self.simctl("calls")[1], "2\n")
        self.assertEqual(self.simctl("calls", "--path", "batch", "--status", "200")[1], "1\n")
        self.assertEqual(self.simctl("inputs")[1], "2\n")
        self.assertEqual(self.simctl("requests")[1],
                         "POST /crm/v3/objects/contacts/batch/upsert 200 2\n"
                         "GET /crm/v3/objects/contacts 200 0\n")
        self.assertEqual(self.simctl("count", "contacts")[1], "2\n")
        out = self.simctl("objects", "contacts", "--props", "email,firstname")[1]
        self.assertEqual(out, '1001\t{"email":"ada@x.com","firstname":"Ada"}\n'
                              '1002\t{"email":"bob@x.com","firstname":null}\n')
        self.assertEqual(self.simctl("get", "contacts", "email", "ADA@x.com")[1],
                         '{"email":"ada@x.com","firstname":"Ada"}\n')
        self.assertEqual(self.simctl("get", "contacts", "email", "zz@x.com")[1], "none\n")
        body = json.loads(self.simctl("bodies", "--path", "upsert")[1])
        self.assertEqual(len(body["inputs"]), 2)
        self.assertEqual(self.simctl("fault", '{"status": 503}')[0], 0)
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 503)
        self.assertEqual(self.simctl("config", '{"rate_limit_max": 5}')[0], 0)
        self.assertEqual(self.ctl("GET", "/_sim/config")["rate_limit_max"], 5)
        rc, out, err = self.simctl("config", '{"bogus": 1}')
        self.assertNotEqual(rc, 0)
        self.assertIn("unknown config key", err)
        self.assertEqual(json.loads(self.simctl("stats")[1])["calls"], 3)
        self.assertEqual(self.simctl("reset")[0], 0)
        self.assertEqual(self.simctl("count", "contacts")[1], "0\n")
        rc, out, err = self.simctl("--url", "http://127.0.0.1:1", "count", "contacts")
        self.assertNotEqual(rc, 0)
        self.assertTrue(err.startswith("simctl: "))


class SimProcessTest(unittest.TestCase):
    def test_port_file_and_sigterm(self):
        d = tempfile.mkdtemp()
        pf = os.path.join(d, "port")
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "hubspot_sim.py"), "--port", "0",
                              "--port-file", pf])
        try:
            out = subprocess.run([sys.executable, os.path.join(HERE, "simctl.py"), "wait-port",
                                  pf, "--timeout", "10"], capture_output=True, text=True,
                                 timeout=20)
            self.assertEqual(out.returncode, 0, out.stderr)
            port = int(out.stdout)
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/crm/v3/objects/contacts", headers=AUTH)
            self.assertEqual(c.getresponse().status, 200)
            c.close()
        finally:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(10), 0)
        self.assertFalse(os.path.exists(pf + ".tmp"))


if __name__ == "__main__":
    unittest.main()
