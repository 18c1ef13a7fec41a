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

    def vendor(self, **extra):
        body = {"name": "vendor", "labels": {"singular": "Vendor", "plural": "Vendors"},
                "primaryDisplayProperty": "vendor_name", "requiredProperties": ["vendor_name"],
                "properties": [
                    {"name": "vendor_name", "type": "string", "label": "Vendor name"},
                    {"name": "vendor_code", "type": "string", "hasUniqueValue": True},
                    {"name": "rating", "type": "number"},
                    {"name": "score", "type": "number", "calculated": True,
                     "modificationMetadata": {"readOnlyValue": True}}]}
        body.update(extra)
        return self.ctl("POST", "/_sim/schemas", body)

    def test_schemas_api(self):
        st, b, _ = self.req("GET", "/crm/v3/schemas")
        self.assertEqual((st, b), (200, {"results": []}))
        made = self.vendor()
        tid = made["objectTypeId"]
        self.assertRegex(tid, r"^2-\d+$")
        for path in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):
            st, b, _ = self.req("GET", path)
            self.assertEqual(st, 200)
            self.assertEqual(len(b["results"]), 1)
            sch = b["results"][0]
            for k in ("id", "objectTypeId", "fullyQualifiedName", "name", "labels", "properties",
                      "requiredProperties", "searchableProperties", "primaryDisplayProperty",
                      "createdAt", "updatedAt", "archived"):
                self.assertIn(k, sch)
            self.assertEqual((sch["name"], sch["objectTypeId"], sch["id"]),
                             ("vendor", tid, tid[2:]))
            self.assertEqual(sch["fullyQualifiedName"], "p%d_vendor" % hubspot_sim.SIM_PORTAL_ID)
            self.assertEqual(sch["labels"]["plural"], "Vendors")
            self.assertEqual(sch["primaryDisplayProperty"], "vendor_name")
            props = {p["name"]: p for p in sch["properties"]}
            self.assertIn("hs_object_id", props)
            self.assertTrue(props["score"]["calculated"])
            self.assertTrue(props["score"]["modificationMetadata"]["readOnlyValue"])
        # one schema by id or by name
        for key in (tid, "p_vendor", sch["fullyQualifiedName"]):
            st, b, _ = self.req("GET", "/crm/v3/schemas/" + key)
            self.assertEqual((st, b["objectTypeId"]), (200, tid), key)
        st, b, h = self.req("GET", "/crm/v3/schemas/2-999")
        self.assert_error(st, b, h, 404)
        st, b, h = self.req("POST", "/crm/v3/schemas", {})
        self.assertEqual(st, 405)
        # reset forgets custom objects
        self.ctl("POST", "/_sim/reset", {})
        self.assertEqual(self.req("GET", "/crm/v3/schemas")[1], {"results": []})

    def test_schemas_scope(self):
        self.vendor()
        self.assertEqual(self.req("GET", "/crm/v3/schemas", headers=RO)[0], 200)
        self.config(tokens={"pat-c": ["crm.objects.contacts.read"]})
        st, b, h = self.req("GET", "/crm/v3/schemas",
                            headers={"Authorization": "Bearer pat-c"})
        self.assert_error(st, b, h, 403, "MISSING_SCOPES")
        self.assertEqual(b["errors"][0]["context"]["requiredGranularScopes"],
                         ["crm.schemas.custom.read"])
        self.assertEqual(self.req("GET", "/crm/v3/schemas",
                                  headers={"Authorization": "Bearer nope"})[0], 401)

    def test_custom_object_properties_and_objects(self):
        tid = self.vendor()["objectTypeId"]
        # the properties API answers for every name of the object, with the schema's properties
        for t in (tid, "p_vendor", "p%d_vendor" % hubspot_sim.SIM_PORTAL_ID):
            st, b, _ = self.req("GET", "/crm/v3/properties/" + t)
            self.assertEqual(st, 200, t)
            self.assertEqual({p["name"] for p in b["results"]},
                             {"vendor_name", "vendor_code", "rating", "score", "hs_object_id",
                              "createdate", "lastmodifieddate"})
        self.assertFalse({p["name"]: p for p in b["results"]}["rating"]["hubspotDefined"])
        # one store under every name; read-only properties refuse writes
        st, b, _ = self.upsert([{"id": "v1", "idProperty": "vendor_code",
                                 "properties": {"vendor_name": "Acme"}}], tid)
        self.assertEqual(st, 200, b)
        st, b, _ = self.req("GET", V3 + "p_vendor?properties=vendor_name")
        self.assertEqual([o["properties"]["vendor_name"] for o in b["results"]], ["Acme"])
        st, b, _ = self.upsert([{"id": "v2", "idProperty": "vendor_code",
                                 "properties": {"score": "3"}}], tid)
        self.assertEqual(st, 400, b)
        # a custom object without a unique property gets external_id to key upserts by
        tid2 = self.ctl("POST", "/_sim/schemas", {"name": "plain", "properties": [
            {"name": "label_text", "type": "string"}]})["objectTypeId"]
        self.assertNotEqual(tid, tid2)
        st, b, _ = self.req("GET", "/crm/v3/properties/" + tid2)
        self.assertIn("external_id", [p["name"] for p in b["results"]])
        # a second object of the same name is refused
        st, b, _ = self.req("POST", "/_sim/schemas", {"name": "vendor", "properties": []},
                            {"Content-Type": "application/json"})
        self.assertEqual(st, 400)

    def test_properties_403_without_read_scope(self):
        self.vendor()
        self.config(tokens={"pat-c": ["crm.objects.contacts.read"]})
        c = {"Authorization": "Bearer pat-c"}
        self.assertEqual(self.req("GET", "/crm/v3/properties/contacts", headers=c)[0], 200)
        for t in ("companies", "deals", "line_items", "p_vendor"):
            st, b, h = self.req("GET", "/crm/v3/properties/" + t, headers=c)
            self.assert_error(st, b, h, 403, "MISSING_SCOPES")
        st, b, _ = self.req("GET", "/crm/v3/properties/companies", headers=c)
        self.assertIn("crm.schemas.companies.read",
                      b["errors"][0]["context"]["requiredGranularScopes"])

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

    # ------------------------------------------------------------------ log before answer
    def test_call_is_logged_before_its_answer(self):
        """A client that has an answer finds its call in the log and stats at once."""
        other = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.addCleanup(other.close)
        ctl = {"Content-Type": "application/json"}
        self.fault(delay_ms=30, count=3, match="/batch/upsert")
        self.fault(status=503, count=3, match="/crm/v3/objects/deals")
        for i in range(60):
            if i % 3 == 0:
                st, _, _ = self.raw_req("POST", V3 + "contacts/batch/upsert",
                                        {"inputs": [self.ci("l%d@x.com" % i)]})
            elif i % 3 == 1:
                st, _, _ = self.raw_req("GET", V3 + "deals")
            else:
                st, _, _ = self.raw_req("POST", V3 + "contacts/search", {})
            st2, body, _ = self.raw_req("GET", "/_sim/stats", headers=ctl, conn=other)
            self.assertEqual(json.loads(body)["calls"], i + 1)
            st2, body, _ = self.raw_req("GET", "/_sim/requests", headers=ctl, conn=other)
            log = json.loads(body)["requests"]
            self.assertEqual(len(log), i + 1)
            self.assertEqual(log[-1]["status"], st)
            self.assertLessEqual(log[-1]["t_start"], log[-1]["t_end"])
        # a dropped call is logged (status 0) before the connection goes
        self.fault(drop=True)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.req("GET", V3 + "contacts")
        self.conn.close()
        st2, body, _ = self.raw_req("GET", "/_sim/requests", headers=ctl, conn=other)
        self.assertEqual(json.loads(body)["requests"][-1]["status"], 0)
        self.assertEqual(json.loads(body)["requests"][-1]["fault"], {"drop": True})

    # ------------------------------------------------------------------ trace ids and contexts
    def test_result_trace_ids_omit(self):
        self.assertEqual(self.ctl("GET", "/_sim/config")["result_trace_ids"], "echo")
        inputs = [dict(self.ci("u%02d@x.com" % i), objectWriteTraceId="t%d" % i)
                  for i in range(20)]
        st, b, _ = self.upsert(inputs)
        self.assertEqual(sorted(r["objectWriteTraceId"] for r in b["results"]),
                         sorted("t%d" % i for i in range(20)))
        self.config(result_trace_ids="omit")
        inputs.append(dict(self.ci("bad@x.com", nosuch="1"), objectWriteTraceId="tb"))
        st, b, _ = self.upsert(inputs)
        self.assertEqual(st, 207, b)
        self.assertEqual(len(b["results"]), 20)
        for r in b["results"]:
            self.assertEqual(set(r), {"id", "properties", "createdAt", "updatedAt", "archived",
                                      "new"})
        got = [r["properties"]["email"] for r in b["results"]]
        self.assertNotEqual(got, [i["id"] for i in inputs[:20]])      # still shuffled
        self.assertEqual(b["errors"][0]["context"], {"objectWriteTraceId": ["tb"]})
        # documented 207 example: batch/create of tickets, no trace ids in results
        st, b, _ = self.req("POST", V3 + "tickets/batch/create", {"inputs": [
            {"properties": {"subject": "s", "hs_pipeline_stage": "1"},
             "objectWriteTraceId": "a"},
            {"properties": {"missing": "x"}, "objectWriteTraceId": "549b1c2a9351"}]})
        self.assertEqual(st, 207)
        self.assertNotIn("objectWriteTraceId", b["results"][0])
        self.assertEqual(b["errors"][0]["context"], {"objectWriteTraceId": ["549b1c2a9351"]})
        # as a fault, for one call
        self.config(result_trace_ids="echo")
        self.fault(result_trace_ids="omit")
        for expect in (False, True):
            st, b, _ = self.upsert([dict(self.ci("z@x.com"), objectWriteTraceId="z")])
            self.assertEqual("objectWriteTraceId" in b["results"][0], expect)
        st, b, _ = self.req("POST", "/_sim/config", {"result_trace_ids": "never"},
                            {"Content-Type": "application/json"})
        self.assertEqual(st, 400)

    def test_error_context(self):
        st, b, _ = self.upsert([self.ci("a@x.com")])
        rid = b["results"][0]["id"]
        upd = {"inputs": [{"id": rid, "properties": {"firstname": "A"}, "objectWriteTraceId": "1"},
                          {"id": "999999", "properties": {}, "objectWriteTraceId": "2"},
                          {"id": rid + "0", "properties": {"nosuch": "x"},
                           "objectWriteTraceId": "3"}]}
        st, b, _ = self.req("POST", V3 + "contacts/batch/update", upd)
        self.assertEqual(st, 207, b)
        ctxs = sorted((e["category"], json.dumps(e["context"], sort_keys=True))
                      for e in b["errors"])
        self.assertEqual(ctxs, [
            ("OBJECT_NOT_FOUND", '{"ids": ["999999"], "objectWriteTraceId": ["2"]}'),
            ("VALIDATION_ERROR", '{"objectWriteTraceId": ["3"]}')])
        want = {"no_trace_ids": [{"ids": ["999999"]}, {}], "empty": [{}, {}], "omit": None}
        for mode, contexts in want.items():
            self.config(error_context=mode)
            st, b, _ = self.req("POST", V3 + "contacts/batch/update", upd)
            self.assertEqual(st, 207)
            errs = sorted(b["errors"], key=lambda e: e["category"])
            self.assertEqual(b["numErrors"], 2)
            if contexts is None:
                self.assertFalse([e for e in errs if "context" in e], mode)
            else:
                self.assertEqual([e["context"] for e in errs], contexts, mode)
            for e in errs:
                self.assertEqual(set(e) - {"context"}, {"status", "category", "message"})
        # whole-request error bodies keep their own context
        st, b, _ = self.upsert([self.ci("a@x.com", nosuch="1")])
        self.assertEqual(b["errors"][0]["context"], {"propertyName": ["nosuch"]})
        # as a fault option, one call
        self.config(error_context="default")
        self.fault(error_context="omit", match="batch/update")
        st, b, _ = self.req("POST", V3 + "contacts/batch/update", upd)
        self.assertFalse([e for e in b["errors"] if "context" in e])
        st, b, _ = self.req("POST", V3 + "contacts/batch/update", upd)
        self.assertTrue(all("context" in e for e in b["errors"]))

    # ------------------------------------------------------------------ envelope status
    def test_envelope_status_without_results_writes_nothing(self):
        for es in ("PENDING", "PROCESSING", "CANCELED"):
            for res in (False, "omit", 0):
                self.fault(envelope_status=es, results=res)
                st, b, h = self.upsert([self.ci("p@x.com"), self.ci("q@x.com")])
                self.assertEqual(st, 200, b)
                self.assertEqual(b["status"], es)
                if res == "omit":
                    self.assertNotIn("results", b)
                else:
                    self.assertEqual(b["results"], [])
                self.assertIn("startedAt", b)
                self.assertIn("x-hubspot-ratelimit-max", h)
                self.assertEqual(self.objects(), [], (es, res))
        # create: 201 envelope, nothing stored; per-input failures not reported either (200)
        self.fault(envelope_status="PENDING", results=False, count=2)
        st, b, _ = self.req("POST", V3 + "contacts/batch/create",
                            {"inputs": [{"properties": {"email": "c@x.com"}}]})
        self.assertEqual((st, b["status"], b["results"]), (201, "PENDING", []))
        st, b, _ = self.upsert([dict(self.ci("g@x.com"), objectWriteTraceId="1"),
                                dict(self.ci("b@x.com", nosuch="1"), objectWriteTraceId="2")])
        self.assertEqual((st, b["status"], b["results"]), (200, "PENDING", []))
        self.assertNotIn("errors", b)
        self.assertNotIn("numErrors", b)
        self.assertEqual(self.objects(), [])
        # a request HubSpot rejects as a whole is still rejected (and uses the fault up)
        self.fault(envelope_status="PENDING", results=False)
        st, b, _ = self.upsert([self.ci("u%d@x.com" % i) for i in range(101)])
        self.assertEqual(st, 400)
        self.assertEqual(self.ctl("GET", "/_sim/faults")["faults"], [])

    def test_envelope_status_with_results_writes(self):
        for i, es in enumerate(("PENDING", "PROCESSING", "CANCELED", "COMPLETE")):
            self.fault(envelope_status=es)
            st, b, _ = self.upsert([self.ci("w%d@x.com" % i)])
            self.assertEqual((st, b["status"]), (200, es))
            self.assertEqual(b["results"][0]["properties"]["email"], "w%d@x.com" % i)
            self.assertEqual(len(self.objects()), i + 1)
        # COMPLETE (or no envelope_status) with results false: done, results left out
        self.fault(results=False)
        st, b, _ = self.upsert([self.ci("x@x.com")])
        self.assertEqual((b["status"], b["results"]), ("COMPLETE", []))
        self.assertEqual(len(self.objects()), 5)
        # batch/read answers an envelope too; archive, GET and search pass over the fault
        rid = self.objects()[0]["id"]
        self.fault(envelope_status="PROCESSING", results=False)
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 200)
        self.assertEqual(self.req("POST", V3 + "contacts/search", {})[0], 200)
        self.assertEqual(self.req("POST", V3 + "contacts/batch/archive",
                                  {"inputs": [{"id": "424242"}]})[0], 204)
        st, b, _ = self.req("POST", V3 + "contacts/batch/read", {"inputs": [{"id": rid}]})
        self.assertEqual((st, b["status"], b["results"]), (200, "PROCESSING", []))
        st, b, _ = self.req("POST", "/_sim/faults", {"envelope_status": "DONE"},
                            {"Content-Type": "application/json"})
        self.assertEqual(st, 400)

    # ------------------------------------------------------------------ applied, answer lost
    def test_faults_do_not_apply_unless_asked(self):
        for f in ({"drop": True}, {"garbage": True}, {"truncate": True}, {"status": 502},
                  {"status": 200, "body": {"status": "COMPLETE"}}, {"raw_body": "x"},
                  {"nul_string": True}, {"empty_body": True}, {"pad_bytes": 1000}):
            self.ctl("POST", "/_sim/faults", f)
            try:
                self.upsert([self.ci("n@x.com")])
            except (http.client.HTTPException, ConnectionError, ValueError):
                self.conn.close()
            self.assertEqual(self.objects(), [], f)

    def test_apply_then_lose_the_answer(self):
        cases = [({"drop": True}, 0), ({"garbage": True}, 200), ({"truncate": True}, 200),
                 ({"status": 502}, 502), ({"status": 500, "body": "oops"}, 500),
                 ({"status": 504, "delay_ms": 50}, 504), ({"raw_body": "<html/>"}, 200),
                 ({"empty_body": True}, 200)]
        for i, (f, logged) in enumerate(cases):
            self.ctl("POST", "/_sim/faults", dict(f, apply=True))
            email = "a%d@x.com" % i
            try:
                st, payload, h = self.raw_req("POST", V3 + "contacts/batch/upsert",
                                              {"inputs": [self.ci(email, firstname="F")]})
                self.assertEqual(st, logged, f)
                if "status" in f:
                    b = json.loads(payload) if "body" not in f else payload.decode()
                    if "body" not in f:
                        self.assertEqual(b["category"], "INTERNAL_ERROR")
                        self.assertEqual(b["correlationId"], h["x-hubspot-correlation-id"])
                    else:
                        self.assertEqual(b, "oops")
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
            self.assertEqual(self.objects()[-1]["properties"]["email"], email, f)
            self.assertEqual(self.objects()[-1]["properties"]["firstname"], "F", f)
            entry = self.log()[-1]
            self.assertEqual(entry["status"], logged, f)
            self.assertTrue(entry["fault"]["apply"])
        self.assertEqual(len(self.objects()), len(cases))
        # applied once: a retry of the same upsert updates the record, new=false
        st, b, _ = self.upsert([self.ci("a0@x.com")])
        self.assertFalse(b["results"][0]["new"])
        # apply with a 2xx status (or none) keeps the real answer as the base: real ids
        self.fault(apply=True, nul_string="id")
        st, b, h = self.upsert([self.ci("a1@x.com")])
        self.assertEqual(st, 200)
        self.assertEqual(b["results"][0]["id"].replace("\x00", ""), self.objects()[1]["id"])
        self.assertIn("x-hubspot-ratelimit-remaining", h)      # the real answer's headers
        # a create's default status is 201
        self.fault(apply=True, pad_bytes=2000)
        st, b, _ = self.req("POST", V3 + "contacts/batch/create",
                            {"inputs": [{"properties": {"email": "cr@x.com"}}]})
        self.assertEqual(st, 201)
        self.assertEqual(b["results"][0]["properties"]["email"], "cr@x.com")
        st, b, _ = self.req("POST", "/_sim/faults", {"apply": True, "delay_ms": 5},
                            {"Content-Type": "application/json"})
        self.assertEqual(st, 400)

    # ------------------------------------------------------------------ hostile bodies
    def test_raw_body_and_empty_body(self):
        html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.fault(raw_body=html, content_type="text/html", status=502)
        st, payload, h = self.raw_req("POST", V3 + "contacts/batch/upsert",
                                      {"inputs": [self.ci("a@x.com")]})
        self.assertEqual((st, payload.decode(), h["content-type"]), (502, html, "text/html"))
        self.assertEqual(h["content-length"], str(len(html)))
        self.fault(raw_body='{"status":"COMPLETE","results":[')      # default: JSON, 200
        st, payload, h = self.raw_req("GET", V3 + "contacts")
        self.assertEqual((st, payload, h["content-type"]),
                         (200, b'{"status":"COMPLETE","results":[', hubspot_sim.JSON_CT))
        self.fault(raw_body="plain", content_type=None)
        st, payload, h = self.raw_req("GET", V3 + "contacts")
        self.assertNotIn("content-type", h)
        self.assertIn("x-hubspot-correlation-id", h)
        for f in ({"empty_body": True}, {"raw_body": ""}, {"empty_body": True, "status": 207}):
            self.ctl("POST", "/_sim/faults", f)
            st, payload, h = self.raw_req("POST", V3 + "contacts/batch/upsert",
                                          {"inputs": [self.ci("a@x.com")]})
            self.assertEqual((st, payload, h["content-length"], h["content-type"]),
                             (f.get("status", 200), b"", "0", hubspot_sim.JSON_CT))
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 200)      # connection still fine
        self.assertEqual(self.objects(), [])

    @staticmethod
    def depth(data):
        """Deepest nesting of arrays/objects in JSON text (strings have no brackets here)."""
        d = mx = 0
        for c in data:
            if c in b"[{":
                d += 1
                mx = max(mx, d)
            elif c in b"]}":
                d -= 1
        return mx

    def test_nest_depth(self):
        self.fault(nest_depth=6)
        st, payload, h = self.raw_req("POST", V3 + "contacts/batch/upsert",
                                      {"inputs": [self.ci("a@x.com")]})
        self.assertEqual(st, 200)
        b = json.loads(payload)
        self.assertEqual(b["results"], [{"a": [{"a": [{}]}]}])
        self.assertEqual(b["status"], "COMPLETE")
        self.assertIn("completedAt", b)
        self.assertEqual(self.depth(payload), 7)
        for kind, inner in (("array", [[[]]]), ("object", {"a": {"a": {}}})):
            self.fault(nest_depth=3, nest_kind=kind)
            st, payload, h = self.raw_req("GET", V3 + "contacts")
            self.assertEqual(json.loads(payload)["results"], inner)
        self.fault(nest_depth=100000, status=207, apply=True)
        st, payload, h = self.raw_req("POST", V3 + "contacts/batch/upsert",
                                      {"inputs": [self.ci("a@x.com")]})
        self.assertEqual(st, 207)
        self.assertEqual(self.depth(payload), 100001)
        self.assertTrue(payload.startswith(b'{"results":[{"a":[{"a":'))
        self.assertTrue(payload.endswith(b'Z"}'))              # valid: the envelope closes
        self.assertEqual(len(self.objects()), 1)               # applied

    def test_raw_number(self):
        self.fault(raw_number="1e1000000")
        st, payload, h = self.raw_req("POST", V3 + "contacts/batch/upsert",
                                      {"inputs": [self.ci("a@x.com")]})
        self.assertEqual(st, 200)
        self.assertTrue(payload.startswith(b'{"numErrors":1e1000000,"status":"COMPLETE",'))
        b = json.loads(payload)                                 # Python: inf
        self.assertEqual(b["numErrors"], float("inf"))
        self.assertEqual(len(b["results"]), 1)
        self.fault(raw_number="-123456789012345678901234567890", number_field="startedAt",
                   apply=True)
        st, payload, h = self.raw_req("POST", V3 + "contacts/batch/upsert",
                                      {"inputs": [self.ci("b@x.com")]})
        self.assertEqual(payload.count(b'"startedAt"'), 1)
        self.assertIn(b'"startedAt":-123456789012345678901234567890,', payload)
        self.assertEqual(json.loads(payload)["results"][0]["properties"]["email"], "b@x.com")
        self.assertEqual(len(self.objects()), 1)

    def test_nul_string(self):
        inp = [dict(self.ci("a@x.com", firstname="Ann"), objectWriteTraceId="tr")]
        self.fault(nul_string=True)                          # not applied: mirrored inputs
        st, payload, h = self.raw_req("POST", V3 + "contacts/batch/upsert", {"inputs": inp})
        self.assertEqual(st, 200)
        self.assertIn(b'"a\\u0000@x.com"', payload)
        r = json.loads(payload)["results"][0]
        self.assertEqual(r["properties"]["email"], "a\x00@x.com")
        self.assertEqual(r["objectWriteTraceId"], "tr")
        self.assertEqual(self.objects(), [])
        self.fault(nul_string=True, apply=True)
        st, b, h = self.upsert(inp)
        self.assertEqual(b["results"][0]["properties"]["firstname"], "A\x00nn")
        self.assertEqual(b["results"][0]["properties"]["email"], "a\x00@x.com")
        self.assertEqual(self.objects()[0]["properties"]["firstname"], "Ann")
        self.fault(nul_string="objectWriteTraceId", apply=True)
        st, b, h = self.upsert(inp)
        self.assertEqual(b["results"][0]["objectWriteTraceId"], "t\x00r")
        self.assertEqual(b["results"][0]["properties"]["firstname"], "Ann")
        self.fault(nul_string="message", status=400, body={
            "status": "error", "message": "Bad", "category": "VALIDATION_ERROR",
            "errors": [{"message": "Worse"}]})
        st, b, h = self.upsert(inp)
        self.assertEqual((st, b["message"], b["errors"][0]["message"]),
                         (400, "B\x00ad", "W\x00orse"))
        # the fault's body is not changed by its use
        self.fault(nul_string="message", status=400, count=2, body={"message": "Bad"})
        self.assertEqual([self.upsert(inp)[1]["message"] for _ in range(2)], ["B\x00ad"] * 2)

    def test_wrong_types(self):
        self.fault(wrong_types=True, status=400)
        st, b, h = self.upsert([self.ci("a@x.com")])
        self.assertEqual(st, 400)
        self.assertIsInstance(b["message"], int)
        self.assertIsInstance(b["errors"], dict)
        self.assertIsInstance(b["context"], str)
        self.assertIsInstance(b["category"], list)
        self.assertEqual(b["correlationId"], h["x-hubspot-correlation-id"])
        self.fault(wrong_types="batch", status=207, apply=True)
        st, b, h = self.upsert([self.ci("b@x.com")])
        self.assertEqual((st, b["status"], b["numErrors"]), (207, "COMPLETE", "1"))
        e = b["errors"][0]
        self.assertEqual((type(e["message"]), type(e["category"]), type(e["context"])),
                         (int, list, str))
        self.assertEqual(b["results"][0]["properties"]["email"], "b@x.com")
        self.fault(wrong_types=True)
        self.assertEqual(self.upsert([self.ci("c@x.com")])[0], 200)    # default status 200
        self.assertEqual(len(self.objects()), 1)

    def test_truncate_and_declared_length(self):
        self.fault(truncate_at=10)
        self.conn.request("POST", V3 + "contacts/batch/upsert",
                          json.dumps({"inputs": [self.ci("a@x.com")]}), AUTH)
        r = self.conn.getresponse()
        self.assertEqual(r.status, 200)
        declared = int(r.getheader("Content-Length"))
        with self.assertRaises(http.client.IncompleteRead) as cm:
            r.read()
        self.assertEqual(cm.exception.partial, b'{"status":')
        self.assertGreater(declared, 10)
        self.conn.close()
        # a Content-Length header given in the fault is sent as is (here: larger, connection
        # closed after the short body)
        self.fault(status=200, body={"status": "COMPLETE", "results": []},
                   headers={"Content-Length": "500", "Connection": "close"})
        self.conn.request("GET", V3 + "contacts", headers=AUTH)
        r = self.conn.getresponse()
        self.assertEqual(r.getheader("Content-Length"), "500")
        with self.assertRaises(http.client.IncompleteRead):
            r.read()
        self.conn.close()
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 200)
        self.assertEqual(self.objects(), [])

    def test_pad_bytes(self):
        for n in (5000, 1 << 20):
            self.fault(pad_bytes=n)
            st, payload, h = self.raw_req("POST", V3 + "contacts/batch/upsert",
                                          {"inputs": [self.ci("a@x.com")]})
            self.assertEqual((st, len(payload), h["content-length"]), (200, n, str(n)))
            b = json.loads(payload)
            self.assertEqual(b["status"], "COMPLETE")
            self.assertEqual(set(b["x_sim_padding"]), {"x"})
        self.fault(pad_bytes=3000, raw_body="<html>x</html>", content_type="text/html")
        st, payload, h = self.raw_req("GET", V3 + "contacts")
        self.assertEqual((len(payload), payload[:14]), (3000, b"<html>x</html>"))
        self.fault(pad_bytes=10)                  # smaller than the answer: as it is
        st, payload, h = self.raw_req("GET", V3 + "contacts")
        self.assertEqual(json.loads(payload)["results"], [])

    def test_hostile_fault_validation(self):
        for f in ({"nest_depth": 0}, {"nest_depth": "5"}, {"pad_bytes": -1},
                  {"raw_number": ""}, {"raw_number": 5}, {"nul_string": "name"},
                  {"wrong_types": "x"}, {"raw_body": 5}, {"raw_body": "x", "body": {}},
                  {"empty_body": True, "garbage": True}, {"status": 99}, {"truncate": "yes"},
                  {"headers": {"X-A": [1]}}, {"headers": {"Bad Name": "1"}},
                  {"headers": {"X-A": "a\r\nX-B: b"}}, {"results": "maybe"},
                  {"error_context": "none"}, {"content_type": 1, "raw_body": ""},
                  {"nest_kind": "tree", "nest_depth": 2}, {"apply": True}):
            st, b, _ = self.req("POST", "/_sim/faults", f, {"Content-Type": "application/json"})
            self.assertEqual(st, 400, f)
        self.assertEqual(self.ctl("GET", "/_sim/faults")["faults"], [])
        self.fault(drop=1, apply=0, count=2)           # Perl-style 1/0 booleans
        self.assertEqual(self.ctl("GET", "/_sim/faults")["faults"],
                         [{"drop": True, "apply": False, "count": 2}])

    # ------------------------------------------------------------------ headers, Retry-After
    def test_headers_on_a_success_answer(self):
        absurd = {"X-HubSpot-RateLimit-Max": "1",
                  "X-HubSpot-RateLimit-Interval-Milliseconds": "2147483647",
                  "X-HubSpot-RateLimit-Remaining": -3, "x-hubspot-ratelimit-daily": None,
                  "Retry-After": "99999999999"}
        self.fault(headers=absurd, match="batch/upsert")
        st, b, h = self.upsert([self.ci("a@x.com")])
        self.assertEqual(st, 200)
        self.assertEqual(b["results"][0]["properties"]["email"], "a@x.com")   # performed
        self.assertEqual((h["x-hubspot-ratelimit-max"],
                          h["x-hubspot-ratelimit-interval-milliseconds"],
                          h["x-hubspot-ratelimit-remaining"], h["retry-after"]),
                         ("1", "2147483647", "-3", "99999999999"))
        self.assertNotIn("x-hubspot-ratelimit-daily", h)
        self.assertIn("x-hubspot-ratelimit-daily-remaining", h)
        self.conn.request("GET", V3 + "contacts", headers=AUTH)
        r = self.conn.getresponse()
        r.read()
        self.assertEqual(len(r.headers.get_all("X-HubSpot-RateLimit-Max")), 1)
        self.assertEqual(r.getheader("X-HubSpot-RateLimit-Max"),
                         str(hubspot_sim.UNLIMITED_REPORTED_MAX))
        self.assertEqual(len(self.objects()), 1)

    def test_headers_on_a_429(self):
        # a real 429 of the rate limiter, its headers replaced
        self.config(rate_limit_max=1, retry_after_on_429=3)
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 200)
        self.fault(headers={"Retry-After": "-5", "X-HubSpot-RateLimit-Max": "1",
                            "X-HubSpot-RateLimit-Remaining": None})
        st, b, h = self.req("GET", V3 + "contacts")
        self.assertEqual((st, b["policyName"], h["retry-after"]), (429, "TEN_SECONDLY_ROLLING",
                                                                   "-5"))
        self.assertNotIn("x-hubspot-ratelimit-remaining", h)
        self.conn.request("GET", V3 + "contacts", headers=AUTH)
        r = self.conn.getresponse()
        r.read()
        self.assertEqual(r.headers.get_all("Retry-After"), ["3"])
        # an injected 429 (config Retry-After replaced)
        self.config(rate_limit_max=0)
        for ra in ("Wed, 21 Oct 2015 07:28:00 GMT", "-5", "99999999999", "soon"):
            self.fault(status=429, headers={"Retry-After": ra,
                                            "X-HubSpot-RateLimit-Interval-Milliseconds":
                                            "2147483647"})
            self.conn.request("GET", V3 + "contacts", headers=AUTH)
            r = self.conn.getresponse()
            b = json.loads(r.read())
            self.assertEqual((r.status, b["errorType"]), (429, "RATE_LIMIT"))
            self.assertEqual(r.headers.get_all("Retry-After"), [ra])
            self.assertEqual(r.getheader("X-HubSpot-RateLimit-Interval-Milliseconds"),
                             "2147483647")

    def test_retry_after_format(self):
        import email.utils
        self.assertEqual(self.ctl("GET", "/_sim/config")["retry_after_format"], "seconds")
        self.config(rate_limit_max=1, retry_after_on_429=30, retry_after_format="http-date")
        self.req("GET", V3 + "contacts")
        t = time.time()
        st, b, h = self.req("GET", V3 + "contacts")
        self.assertEqual(st, 429)
        self.assertRegex(h["retry-after"],
                         r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")
        when = email.utils.parsedate_to_datetime(h["retry-after"]).timestamp()
        self.assertTrue(t + 29 <= when <= t + 32, (t, when))
        self.fault(status=429)
        st, b, h = self.req("GET", "/crm/v3/properties/contacts")
        self.assertTrue(h["retry-after"].endswith(" GMT"))
        self.config(retry_after_format="seconds")
        st, b, h = self.req("GET", V3 + "contacts")
        self.assertEqual(h["retry-after"], "30")
        st, b, _ = self.req("POST", "/_sim/config", {"retry_after_format": "ms"},
                            {"Content-Type": "application/json"})
        self.assertEqual(st, 400)

    # ------------------------------------------------------------------ batch-wide rejections
    def test_batch_wide_rejections_with_trace_ids(self):
        def traced(inputs):
            return [dict(inp, objectWriteTraceId="t%d" % i) for i, inp in enumerate(inputs)]
        cases = [
            ("companies", "upsert", [{"id": "x.com", "idProperty": "domain", "properties": {}},
                                     {"id": "C1", "idProperty": "company_code",
                                      "properties": {}}],
             "Unable to perform update/upsert by non-unique 0-2 property domain"),
            ("companies", "update", [{"id": "x.com", "idProperty": "domain", "properties": {}}],
             "Unable to perform update/upsert by non-unique 0-2 property domain"),
            ("0-2", "upsert", [{"id": "1", "idProperty": "hs_object_id", "properties": {}}],
             "Unable to perform update/upsert by non-unique 0-2 property hs_object_id"),
            ("deals", "upsert", [{"id": "D", "idProperty": "dealname", "properties": {}}],
             "Unable to perform update/upsert by non-unique 0-3 property dealname"),
            ("contacts", "update", [{"id": "a@x.com", "idProperty": "email",
                                     "properties": {"firstname": "Z"}}],
             "Unable to perform update/upsert by non-unique 0-1 property email"),
            ("2-77", "upsert", [{"id": "n", "idProperty": "name", "properties": {}}],
             "Unable to perform update/upsert by non-unique 2-77 property name"),
            ("vendor", "upsert", [self.ci("a@x.com")], "Unable to infer object type from: vendor"),
            ("companies", "read", None,
             "Unable to perform update/upsert by non-unique 0-2 property domain"),
        ]
        self.upsert([self.ci("a@x.com")])
        for t, op, inputs, msg in cases:
            for tr in (False, True):
                if op == "read":
                    body = {"idProperty": "domain", "inputs": [{"id": "x.com"}]}
                else:
                    body = {"inputs": traced(inputs) if tr else inputs}
                st, b, h = self.req("POST", V3 + t + "/batch/" + op, body)
                self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
                self.assertEqual(b["message"], msg, (t, op, tr))
        self.assertEqual(self.objects("companies"), [])
        self.assertEqual(self.objects("deals"), [])
        self.assertEqual(self.objects()[0]["properties"].get("firstname"), None)

    # ------------------------------------------------------------------ closed schemas
    def test_every_type_has_a_closed_schema(self):
        keys = {"contacts": "external_id", "companies": "company_code", "deals": "deal_code",
                "tickets": "ticket_code"}
        types = [n for n, _, _ in hubspot_sim.STANDARD_TYPES] + ["2-5", "p_thing",
                                                                 "p4242_thing"]
        for t in types:
            key = keys.get(t, "external_id")
            st, b, h = self.upsert([{"id": "k", "idProperty": key,
                                     "properties": {"no_such_prop": "v"}}], t)
            self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
            self.assertEqual(b["errors"][0]["code"], "PROPERTY_DOESNT_EXIST", t)
            st, b, h = self.req("POST", V3 + t + "/batch/create", {"inputs": [
                {"properties": {"no_such_prop": "v"}, "objectWriteTraceId": "1"}]})
            self.assertEqual((st, b["numErrors"]), (207, 1), t)
            st, b, _ = self.req("GET", "/crm/v3/properties/" + t)
            props = {p["name"]: p for p in b["results"]}
            self.assertTrue(props[key]["hasUniqueValue"], t)
            self.assertTrue({"hs_object_id", "createdate", "lastmodifieddate"} <= set(props), t)
            self.assertGreaterEqual(len(props), 5, t)
            st, b, _ = self.upsert([{"id": "k", "idProperty": key, "properties": {}}], t)
            self.assertEqual(st, 200, (t, b))
            # reads leave out unknown properties
            st, b, _ = self.req("POST", V3 + t + "/batch/read", {
                "inputs": [{"id": b["results"][0]["id"]}], "properties": ["no_such_prop"]})
            self.assertNotIn("no_such_prop", b["results"][0]["properties"])
        # the custom default schema
        st, b, _ = self.req("GET", "/crm/v3/properties/2-5")
        props = {p["name"]: p for p in b["results"]}
        self.assertEqual(set(props), {"name", "description", "amount", "status", "start_date",
                                      "external_id", "hs_object_id", "createdate",
                                      "lastmodifieddate"})
        self.assertEqual((props["amount"]["type"], props["status"]["type"],
                          props["start_date"]["type"]), ("number", "enumeration", "date"))
        st, b, _ = self.upsert([{"id": "e1", "idProperty": "external_id", "properties": {
            "name": "N", "amount": "1.5", "status": "active", "start_date": "2024-02-29"}}],
            "2-5")
        self.assertEqual(st, 200, b)
        for prop, v, code in (("amount", "x", "INVALID_INTEGER"),
                              ("status", "Active", "INVALID_OPTION"),
                              ("start_date", "1430438400001", "INVALID_DATE")):
            st, b, _ = self.upsert([{"id": "e1", "idProperty": "external_id",
                                     "properties": {prop: v}}], "p_thing")
            self.assertEqual(b["errors"][0]["code"], code)
        # subscriptions (commerce) too, and /_sim/properties still replaces a schema
        self.ctl("POST", "/_sim/properties/subscriptions",
                 {"properties": [{"name": "plan", "type": "string"}]})
        st, b, _ = self.upsert([{"id": "s", "idProperty": "external_id",
                                 "properties": {"plan": "gold"}}], "subscriptions")
        self.assertEqual(st, 400)     # the replacement schema has no unique property
        st, b, _ = self.req("POST", V3 + "subscriptions/batch/create",
                            {"inputs": [{"properties": {"plan": "gold"}}]})
        self.assertEqual(st, 201)
        st, b, _ = self.req("POST", V3 + "subscriptions/batch/create",
                            {"inputs": [{"properties": {"hs_name": "gold"}}]})
        self.assertEqual(st, 400)

    # ------------------------------------------------------------------ 414
    def test_414_uri_too_long(self):
        self.assertEqual(self.ctl("GET", "/_sim/config")["max_url_length"], 8000)
        base = V3 + "contacts?properties="
        ok = base + "a" * (8000 - len(base))
        self.assertEqual(self.req("GET", ok)[0], 200)
        st, payload, h = self.raw_req("GET", ok + "b")
        self.assertEqual(st, 414)
        self.assertEqual(h["content-type"], "text/html")
        self.assertIn(b"<title>414 Request-URI Too Large</title>", payload)
        self.assertNotIn("x-hubspot-correlation-id", h)
        self.assertNotIn("x-hubspot-ratelimit-max", h)
        self.conn.close()
        # before faults, auth and rate limits; logged
        self.fault(status=503)
        st, _, _ = self.raw_req("GET", ok + "b", headers={})
        self.assertEqual(st, 414)
        self.conn.close()
        self.assertEqual(self.req("GET", V3 + "contacts")[0], 503)
        self.assertEqual([r["status"] for r in self.log()], [200, 414, 414, 503])
        st, _, h = self.raw_req("GET", V3 + "contacts")
        self.assertEqual(h["x-hubspot-ratelimit-daily-remaining"], str(250000 - 2))
        self.config(max_url_length=2000)
        self.assertEqual(self.raw_req("GET", base + "a" * 2000)[0], 414)
        self.conn.close()
        self.config(max_url_length=0)
        self.assertEqual(self.req("GET", base + "a" * 20000)[0], 200)

    # ------------------------------------------------------------------ archive / read ids
    def test_archive_takes_only_record_ids(self):
        st, b, _ = self.upsert([self.ci("a@x.com")])
        rid = b["results"][0]["id"]
        for body in ({"inputs": [{"id": "a@x.com", "idProperty": "email"}]},
                     {"idProperty": "email", "inputs": [{"id": "a@x.com"}]},
                     {"inputs": [{"id": rid, "properties": {}}]}):
            st, b, h = self.req("POST", V3 + "contacts/batch/archive", body)
            self.assertEqual(st, 400, body)
            self.assertNotIn("category", b)
            self.assertRegex(b["message"], r"^Invalid input JSON on line 1, column \d+: "
                             r'Unrecognized field "(idProperty|properties)" \(class ')
            self.assertEqual(b["correlationId"], h["x-hubspot-correlation-id"])
        self.assertEqual(len(self.objects()), 1)
        # without strict_fields the idProperty is ignored: ids are record ids
        self.config(strict_fields=False)
        self.assertEqual(self.req("POST", V3 + "contacts/batch/archive",
                                  {"inputs": [{"id": "a@x.com", "idProperty": "email"}]})[0],
                         204)
        self.assertEqual(len(self.objects()), 1)
        self.assertEqual(self.req("POST", V3 + "contacts/batch/archive",
                                  {"inputs": [{"id": rid, "idProperty": "email"}]})[0], 204)
        self.assertEqual(self.objects(), [])

    def test_batch_read_by_id_property(self):
        st, b, _ = self.upsert([{"id": "E1", "idProperty": "external_id",
                                 "properties": {"email": "a@x.com", "firstname": "A"}}])
        rid = b["results"][0]["id"]
        auto = {"hs_object_id", "createdate", "lastmodifieddate"}
        for id_prop, key, props, want in (
                ("email", "A@X.com", ["firstname"], {"firstname"}),
                ("email", "a@x.com", ["email"], {"email"}),
                ("external_id", "E1", ["firstname"], {"firstname"}),
                ("external_id", "E1", ["external_id"], {"external_id"}),
                ("external_id", "E1", None, {"firstname", "lastname", "email"}),
                ("hs_object_id", rid, [], {"firstname", "lastname", "email"})):
            body = {"idProperty": id_prop, "inputs": [{"id": key}]}
            if props is not None:
                body["properties"] = props
            st, b, _ = self.req("POST", V3 + "contacts/batch/read", body)
            self.assertEqual(st, 200, b)
            r = b["results"][0]
            self.assertEqual(r["id"], rid)
            self.assertEqual(set(r["properties"]), want | auto, (id_prop, props))

    # ------------------------------------------------------------------ search limits
    def test_search_limits_and_semantics(self):
        self.config(search_rate_limit=0)
        s = V3 + "contacts/search"
        self.upsert([self.ci("c%02d@x.com" % i, firstname="F%d" % i, city="Paris",
                             lifecyclestage="lead" if i % 2 else "customer",
                             last_seen=str(1700000000000 + i * 1000)) for i in range(12)])
        st, b, _ = self.upsert([self.ci("Up@X.com", firstname="Upper", city="PARIS")])
        upper = b["results"][0]["id"]
        # archived records never come back
        self.req("POST", V3 + "contacts/batch/archive", {"inputs": [{"id": upper}]})

        def search(body, status=200):
            st, b, h = self.req("POST", s, body)
            self.assertEqual(st, status, (body, b))
            if status == 200:
                self.assertFalse([k for k in h if k.startswith("x-hubspot-ratelimit")])
                self.assertIsInstance(b["total"], int)
            else:
                self.assert_error(st, b, h, status, "VALIDATION_ERROR")
            return b

        def flt(**f):
            return {"filterGroups": [{"filters": [f]}], "limit": 100}
        b = search({"limit": 100})
        self.assertEqual(b["total"], 12)
        ids = [r["id"] for r in b["results"]]
        self.assertEqual(ids, sorted(ids, key=int))                 # creation order
        self.assertNotIn(upper, ids)
        self.assertEqual(search(flt(propertyName="city", operator="EQ", value="PARIS"))["total"],
                         12)                                         # case-insensitive
        # enumerations are case-sensitive, for every operator
        self.assertEqual(search(flt(propertyName="lifecyclestage", operator="EQ",
                                    value="lead"))["total"], 6)
        for op, key in (("EQ", "value"), ("IN", "values"), ("CONTAINS_TOKEN", "value")):
            v = ["Lead"] if key == "values" else "Lead"
            self.assertEqual(search(flt(propertyName="lifecyclestage", operator=op,
                                        **{key: v}))["total"], 0, op)
        self.assertEqual(search(flt(propertyName="lifecyclestage", operator="NEQ",
                                    value="Lead"))["total"], 12)
        # IN / NOT_IN on strings need lowercase values: uppercase ones match nothing
        self.assertEqual(search(flt(propertyName="email", operator="IN",
                                    values=["c01@x.com", "c02@x.com"]))["total"], 2)
        self.assertEqual(search(flt(propertyName="email", operator="IN",
                                    values=["C01@x.com"]))["total"], 0)
        self.assertEqual(search(flt(propertyName="email", operator="NOT_IN",
                                    values=["C01@X.COM"]))["total"], 12)
        search(flt(propertyName="email", operator="IN"), 400)
        search(flt(propertyName="email", operator="IN", values=[]), 400)
        # CONTAINS_TOKEN with a * wildcard
        self.assertEqual(search(flt(propertyName="email", operator="CONTAINS_TOKEN",
                                    value="*@x.com"))["total"], 12)
        self.assertEqual(search(flt(propertyName="email", operator="NOT_CONTAINS_TOKEN",
                                    value="c0*"))["total"], 2)
        # dates as epoch-ms strings; BETWEEN with value + highValue
        self.assertEqual(search(flt(propertyName="last_seen", operator="GTE",
                                    value="1700000010000"))["total"], 2)
        self.assertEqual(search(flt(propertyName="last_seen", operator="BETWEEN",
                                    value="1700000001000", highValue="1700000003000"))["total"],
                         3)
        self.assertEqual(search(flt(propertyName="createdate", operator="LTE",
                                    value=str(int(time.time() * 1000) + 60000)))["total"], 12)
        search(flt(propertyName="last_seen", operator="BETWEEN", value="1700000001000"), 400)
        self.assertEqual(search(flt(propertyName="phone", operator="NOT_HAS_PROPERTY"))["total"],
                         12)
        self.assertEqual(search(flt(propertyName="city", operator="HAS_PROPERTY"))["total"], 12)
        # paging: after is an integer offset as a string
        b = search({"limit": 5, "after": "10"})
        self.assertEqual((len(b["results"]), b["total"]), (2, 12))
        self.assertNotIn("paging", b)
        b = search({"limit": 5})
        self.assertEqual(b["paging"]["next"]["after"], "5")
        search({"after": "abc"}, 400)
        search({"limit": 200})
        search({"limit": 201}, 400)
        search({"after": "9990", "limit": 10})
        search({"after": "9990", "limit": 11}, 400)
        search({"after": "10000", "limit": 1}, 400)
        search({"sorts": [{"propertyName": "email"}, {"propertyName": "city"}]}, 400)
        b = search({"sorts": [{"propertyName": "firstname", "direction": "DESCENDING"}],
                    "properties": ["firstname"], "limit": 1})
        self.assertEqual(b["results"][0]["properties"]["firstname"], "F9")
        # filter counts: 5 groups, 6 in a group, 18 in all
        f1 = {"propertyName": "city", "operator": "HAS_PROPERTY"}
        search({"filterGroups": [{"filters": [f1] * 6}] * 3})
        search({"filterGroups": [{"filters": [f1]}] * 5})
        search({"filterGroups": [{"filters": [f1]}] * 6}, 400)
        search({"filterGroups": [{"filters": [f1] * 7}]}, 400)
        search({"filterGroups": [{"filters": [f1] * 5}] * 4}, 400)
        # the whole body is limited to 3,000 characters
        pad = {"limit": 10, "query": ""}
        pad["query"] = "x" * (3000 - len(json.dumps(pad)))
        self.assertEqual(len(json.dumps(pad)), 3000)
        self.assertEqual(search(pad)["total"], 0)
        pad["query"] += "x"
        b = search(pad, 400)
        self.assertIn("3000", b["message"])
        b = search({"limit": 10, "properties": ["firstname"] * 300}, 400)

    def test_search_or_groups_keyset_and_sort(self):
        """What hubspot_fdw sends: groups ORed, each with the keyset filter; a sort on a
        property with HAS_PROPERTY / NOT_HAS_PROPERTY passes and offset paging."""
        self.config(search_rate_limit=0)
        s = V3 + "contacts/search"
        st, b, _ = self.upsert([self.ci("g%02d@x.com" % i, firstname="F%d" % i,
                                        **({"lifetime_value": str(i % 5)} if i % 3 else {}))
                                for i in range(30)])
        self.assertEqual(st, 200, b)

        def search(body):
            st, b, _ = self.req("POST", s, body)
            self.assertEqual(st, 200, (body, b))
            return b
        g1 = {"propertyName": "lifetime_value", "operator": "EQ", "value": "1"}
        g2 = {"propertyName": "lifetime_value", "operator": "GTE", "value": "4"}
        ks = {"propertyName": "hs_object_id", "operator": "GT", "value": "0"}
        b = search({"filterGroups": [{"filters": [g1, ks]}, {"filters": [g2, ks]}],
                    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                    "properties": ["lifetime_value"], "limit": 200})
        vals = [r["properties"]["lifetime_value"] for r in b["results"]]
        self.assertEqual(sorted(set(vals)), ["1", "4"])
        ids = [int(r["id"]) for r in b["results"]]
        self.assertEqual(ids, sorted(ids))
        ks["value"] = str(ids[3])
        b2 = search({"filterGroups": [{"filters": [g1, ks]}, {"filters": [g2, ks]}],
                     "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                     "limit": 200})
        self.assertEqual([int(r["id"]) for r in b2["results"]], ids[4:])
        has = {"propertyName": "lifetime_value", "operator": "HAS_PROPERTY"}
        b = search({"filterGroups": [{"filters": [has]}], "limit": 7,
                    "sorts": [{"propertyName": "lifetime_value", "direction": "DESCENDING"}],
                    "properties": ["lifetime_value"]})
        self.assertEqual(b["total"], 20)
        self.assertEqual([r["properties"]["lifetime_value"] for r in b["results"]],
                         ["4"] * 4 + ["3"] * 3)
        self.assertEqual(b["paging"]["next"]["after"], "7")
        b = search({"filterGroups": [{"filters": [has]}], "limit": 7, "after": "14",
                    "sorts": [{"propertyName": "lifetime_value", "direction": "DESCENDING"}],
                    "properties": ["lifetime_value"]})
        self.assertEqual(len(b["results"]), 6)
        self.assertNotIn("paging", b)
        b = search({"filterGroups": [{"filters": [dict(has, operator="NOT_HAS_PROPERTY")]}],
                    "limit": 200})
        self.assertEqual(b["total"], 10)

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
        self.assertEqual(self.simctl("fault", '{"drop": true, "apply": true, "match": "x"}')[0],
                         0)
        self.assertEqual(self.simctl("faults")[1],
                         '{"apply":true,"count":1,"drop":true,"match":"x"}\n')
        rc, out, err = self.simctl("fault", '{"apply": true}')
        self.assertNotEqual(rc, 0)
        self.assertIn("apply needs", err)
        self.assertEqual(self.simctl("clear-faults")[0], 0)
        self.assertEqual(self.simctl("faults")[1], "")
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

    # ------------------------------------------------------------------ associations
    def mk(self, t, n, **extra):
        """Create n records of type t -> their ids (strings), in creation order."""
        ids = []
        for start in range(0, n, 100):
            inputs = [{"properties": dict(extra)} for _ in range(start, min(n, start + 100))]
            if t == "contacts":
                for inp in inputs:
                    self.mk_n = getattr(self, "mk_n", 0) + 1
                    inp["properties"]["email"] = "c%d@x.com" % self.mk_n
            st, b, _ = self.req("POST", V3 + t + "/batch/create", {"inputs": inputs})
            self.assertEqual(st, 201, b)
            ids.extend(sorted((r["id"] for r in b["results"]), key=int))
        return ids

    @staticmethod
    def apath(ver, f="contacts", t="companies", op="batch/create"):
        if ver == "v4":
            return "/crm/v4/associations/%s/%s/%s" % (f, t, op)
        return "/crm/associations/%s/%s/%s/%s" % (ver, f, t, op)

    @staticmethod
    def ain(f, t, *types):
        return {"from": {"id": f}, "to": {"id": t},
                "types": [{"associationCategory": c, "associationTypeId": i} for c, i in types]}

    def held(self, f="contacts", t="companies"):
        return self.ctl("GET", "/_sim/associations/%s/%s" % (f, t))["results"]

    def test_assoc_create_status_and_shape_per_version(self):
        (c1,) = self.mk("contacts", 1)
        co = self.mk("companies", 3)
        for ver, ok, partial in (("v4", 201, 207), ("2026-03", 201, 207),
                                 ("2026-09", 200, 200)):
            st, b, h = self.req("POST", self.apath(ver), {"inputs": [
                self.ain(c1, co[0], ("HUBSPOT_DEFINED", 279))]})
            self.assertEqual(st, ok, (ver, b))
            self.assertEqual(set(b), {"status", "results", "startedAt", "completedAt"})
            self.assertEqual(b["status"], "COMPLETE")
            self.assertEqual(b["results"], [{"fromObjectTypeId": "0-1", "fromObjectId": int(c1),
                                             "toObjectTypeId": "0-2", "toObjectId": int(co[0]),
                                             "labels": []}])
            self.assertEqual(h["content-type"], "application/json;charset=utf-8")
            self.assertIn("x-hubspot-ratelimit-remaining", h)
            st, b, h = self.req("POST", self.apath(ver), {"inputs": [
                self.ain(c1, co[1], ("HUBSPOT_DEFINED", 1)),
                self.ain(c1, "999", ("HUBSPOT_DEFINED", 279))]})
            self.assertEqual(st, partial, (ver, b))
            self.assertEqual(b["numErrors"], 1)
            self.assertEqual(b["errors"], [{
                "status": "error", "category": "OBJECT_NOT_FOUND",
                "message": b["errors"][0]["message"], "context": {"toObjectId": ["999"]}}])
            self.assertIn("999", b["errors"][0]["message"])
            self.assertEqual(b["results"][0]["labels"], ["Primary"])
            self.assertEqual(b["status"], "COMPLETE")
        self.assertEqual(self.held(), [
            {"from": c1, "to": co[0],
             "types": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}]},
            {"from": c1, "to": co[1],
             "types": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
                       {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}]}])

    def test_assoc_seen_from_both_directions(self):
        (c1,) = self.mk("contacts", 1)
        (co,) = self.mk("companies", 1)
        (d1,) = self.mk("deals", 1)
        self.assertEqual(self.req("POST", self.apath("v4"), {"inputs": [
            self.ain(c1, co, ("HUBSPOT_DEFINED", 1))]})[0], 201)
        # the reverse direction reads 280 (unlabelled) and 2 (primary)
        for ver in ("v4", "2026-03", "2026-09"):
            st, b, _ = self.req("POST", self.apath(ver, "companies", "contacts", "batch/read"),
                                {"inputs": [{"id": co}]})
            self.assertEqual(st, 200, b)
            self.assertEqual(b["results"], [{"from": {"id": co}, "to": [{
                "toObjectId": int(c1), "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": 280, "label": None},
                    {"category": "HUBSPOT_DEFINED", "typeId": 2, "label": "Primary"}]}]}])
        st, b, _ = self.req("POST", self.apath("v4", "0-1", "0-2", "batch/read"),
                            {"inputs": [{"id": c1}]})
        self.assertEqual(b["results"][0]["to"][0]["associationTypes"], [
            {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
            {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}])
        self.assertEqual(self.held("companies", "contacts"), [
            {"from": co, "to": c1, "types": [
                {"category": "HUBSPOT_DEFINED", "typeId": 280, "label": None},
                {"category": "HUBSPOT_DEFINED", "typeId": 2, "label": "Primary"}]}])
        # created from the other side, archived from this one
        st, b, _ = self.req("POST", self.apath("v4", "deals", "contacts"), {"inputs": [
            self.ain(d1, c1, ("HUBSPOT_DEFINED", 3))]})
        self.assertEqual(st, 201, b)
        self.assertEqual(self.held("contacts", "deals")[0]["types"],
                         [{"category": "HUBSPOT_DEFINED", "typeId": 4, "label": None}])
        st, b, _ = self.req("POST", self.apath("v4", "companies", "contacts", "batch/archive"),
                            {"inputs": [{"from": {"id": co}, "to": [{"id": c1}]}]})
        self.assertEqual(st, 204)
        self.assertEqual(self.held(), [])
        self.assertEqual(len(self.held("deals", "contacts")), 1)

    def test_assoc_hubspot_defined_type_table(self):
        self.assertEqual(hubspot_sim.HS_ASSOC[("contacts", "companies")],
                         {279: (None, 280), 1: ("Primary", 2)})
        want = {("companies", "contacts"): (280, 2), ("deals", "companies"): (341, 5),
                ("companies", "deals"): (342, 6), ("deals", "contacts"): (3, None),
                ("contacts", "deals"): (4, None), ("tickets", "companies"): (339, 26),
                ("companies", "tickets"): (340, 25), ("tickets", "contacts"): (16, None),
                ("contacts", "tickets"): (15, None), ("deals", "tickets"): (27, None),
                ("tickets", "deals"): (28, None), ("deals", "line_items"): (19, None),
                ("line_items", "deals"): (20, None), ("companies", "companies"): (450, 13),
                ("contacts", "contacts"): (449, None), ("deals", "deals"): (451, None),
                ("tickets", "tickets"): (452, None), ("subscriptions", "contacts"): (295, None),
                ("subscriptions", "companies"): (297, None),
                ("subscriptions", "deals"): (299, None),
                ("subscriptions", "line_items"): (301, None)}
        for (f, t), (unl, labelled) in want.items():
            st, b, _ = self.req("GET", self.apath("v4", f, t, "labels"))
            self.assertEqual(st, 200)
            self.assertEqual(b["results"][0], {"category": "HUBSPOT_DEFINED", "typeId": unl,
                                               "label": None}, (f, t))
            if labelled is not None:
                self.assertIn(labelled, [x["typeId"] for x in b["results"][1:]], (f, t))
        st, b, _ = self.req("GET", self.apath("2026-09", "companies", "companies", "labels"))
        self.assertEqual(b["results"], [
            {"category": "HUBSPOT_DEFINED", "typeId": 450, "label": None},
            {"category": "HUBSPOT_DEFINED", "typeId": 13, "label": "Parent Company"},
            {"category": "HUBSPOT_DEFINED", "typeId": 14, "label": "Child Company"}])
        # parent/child: 13 one way is 14 the other way
        a, b_ = self.mk("companies", 2)
        self.req("POST", self.apath("v4", "companies", "companies"),
                 {"inputs": [self.ain(a, b_, ("HUBSPOT_DEFINED", 13))]})
        self.assertEqual(self.held("companies", "companies"), [
            {"from": a, "to": b_, "types": [
                {"category": "HUBSPOT_DEFINED", "typeId": 450, "label": None},
                {"category": "HUBSPOT_DEFINED", "typeId": 13, "label": "Parent Company"}]},
            {"from": b_, "to": a, "types": [
                {"category": "HUBSPOT_DEFINED", "typeId": 450, "label": None},
                {"category": "HUBSPOT_DEFINED", "typeId": 14, "label": "Child Company"}]}])
        # the v1 meaning of 1 (contact -> company) is not the unlabelled type under v4
        self.assertEqual(self.req("GET", self.apath("v4", "contacts", "tickets", "labels"))[1],
                         {"results": [{"category": "HUBSPOT_DEFINED", "typeId": 15,
                                       "label": None}]})

    def test_assoc_labels_endpoint(self):
        st, b, _ = self.req("GET", self.apath("v4", op="labels"))
        self.assertEqual((st, b), (200, {"results": [
            {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
            {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}]}))
        st, b, _ = self.req("POST", self.apath("v4", op="labels"),
                            {"label": "Manager", "name": "manager"})
        self.assertEqual(st, 200, b)
        self.assertEqual(len(b["results"]), 1)
        mgr = b["results"][0]
        self.assertEqual(mgr["category"], "USER_DEFINED")
        self.assertEqual(mgr["label"], "Manager")
        for ver in ("v4", "2026-03", "2026-09"):
            st, b, _ = self.req("GET", self.apath(ver, "0-1", "0-2", "labels"))
            self.assertEqual(b["results"][2], mgr)
        # the reverse direction has the label too, with its own type id
        st, b, _ = self.req("GET", self.apath("2026-03", "companies", "contacts", "labels"))
        rev = b["results"][2]
        self.assertEqual((rev["category"], rev["label"]), ("USER_DEFINED", "Manager"))
        self.assertEqual(rev["typeId"], mgr["typeId"] + 1)
        # a second label of the pair, via a date version
        st, b, _ = self.req("POST", self.apath("2026-09", op="labels"),
                            {"label": "Billing contact", "name": "billing_contact"})
        self.assertEqual(st, 200, b)
        self.assertNotIn(b["results"][0]["typeId"], (mgr["typeId"], rev["typeId"]))
        # same name again, missing fields, malformed
        st, b, h = self.req("POST", self.apath("v4", op="labels"),
                            {"label": "Manager", "name": "manager"})
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        st, b, h = self.req("POST", self.apath("v4", op="labels"), {"label": "X"})
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertEqual(b["message"], "Some required fields were not set: [name]")
        st, b, h = self.req("POST", self.apath("v4", op="labels"),
                            {"label": "X", "name": "x", "bogus": 1})
        self.assertEqual(st, 400)
        self.assertTrue(b["message"].startswith("Invalid input JSON"))
        self.assertEqual(self.req("DELETE", self.apath("v4", op="labels"))[0], 405)
        # between records of one type: one id both ways
        st, b, _ = self.req("POST", self.apath("v4", "contacts", "contacts", "labels"),
                            {"label": "Colleague", "name": "colleague"})
        col = b["results"][0]
        st, b, _ = self.req("GET", self.apath("v4", "contacts", "contacts", "labels"))
        self.assertEqual(b["results"], [
            {"category": "HUBSPOT_DEFINED", "typeId": 449, "label": None}, col])
        x, y = self.mk("contacts", 2)
        st, b, _ = self.req("POST", self.apath("v4", "contacts", "contacts"), {"inputs": [
            self.ain(x, y, ("USER_DEFINED", col["typeId"]))]})
        self.assertEqual(b["results"][0]["labels"], ["Colleague"])
        self.assertEqual([a["types"] for a in self.held("contacts", "contacts")],
                         [[{"category": "HUBSPOT_DEFINED", "typeId": 449, "label": None}, col]] * 2)
        # control API: a label with chosen ids, and reading the definitions back
        out = self.ctl("POST", "/_sim/associations/contacts/companies/labels",
                       {"label": "Owner", "typeId": 77, "inverseTypeId": 78})
        self.assertEqual(out["results"], [{"category": "USER_DEFINED", "typeId": 77,
                                           "label": "Owner"}])
        got = self.ctl("GET", "/_sim/associations/companies/contacts/labels")["results"]
        self.assertIn({"category": "USER_DEFINED", "typeId": 78, "label": "Owner"}, got)
        st, b, _ = self.req("POST", "/_sim/associations/contacts/companies/labels",
                            {"label": "Owner2", "typeId": 77}, {})
        self.assertEqual(st, 400)
        self.ctl("POST", "/_sim/reset", {})
        self.assertEqual(len(self.req("GET", self.apath("v4", op="labels"))[1]["results"]), 2)

    def test_assoc_create_replaces_labels(self):
        (c1,) = self.mk("contacts", 1)
        (co,) = self.mk("companies", 1)
        mgr = self.req("POST", self.apath("v4", op="labels"),
                       {"label": "Manager", "name": "manager"})[1]["results"][0]["typeId"]
        bil = self.req("POST", self.apath("v4", op="labels"),
                       {"label": "Billing", "name": "billing"})[1]["results"][0]["typeId"]

        def labels():
            st, b, _ = self.req("POST", self.apath("v4", op="batch/read"),
                                {"inputs": [{"id": c1}]})
            if st != 200:
                return None
            return [(t["typeId"], t["label"]) for t in b["results"][0]["to"][0]["associationTypes"]]

        # a labelled create also creates the unlabelled type
        st, b, _ = self.req("POST", self.apath("v4"), {"inputs": [
            self.ain(c1, co, ("USER_DEFINED", mgr), ("USER_DEFINED", bil))]})
        self.assertEqual(b["results"][0]["labels"], ["Manager", "Billing"])
        self.assertEqual(labels(), [(279, None), (mgr, "Manager"), (bil, "Billing")])
        # creating with a set of labels replaces the pair's labels with that set
        st, b, _ = self.req("POST", self.apath("2026-03"), {"inputs": [
            self.ain(c1, co, ("HUBSPOT_DEFINED", 1))]})
        self.assertEqual(b["results"][0]["labels"], ["Primary"])
        self.assertEqual(labels(), [(279, None), (1, "Primary")])
        # two inputs for one pair in one batch: their union
        st, b, _ = self.req("POST", self.apath("v4"), {"inputs": [
            self.ain(c1, co, ("USER_DEFINED", mgr)), self.ain(c1, co, ("USER_DEFINED", bil))]})
        self.assertEqual(st, 201, b)
        self.assertEqual(b["results"], [{"fromObjectTypeId": "0-1", "fromObjectId": int(c1),
                                         "toObjectTypeId": "0-2", "toObjectId": int(co),
                                         "labels": ["Manager", "Billing"]}])
        # associate/default adds the unlabelled type and keeps the labels
        for ver in ("v4", "2026-03", "2026-09"):
            st, b, _ = self.req("POST", self.apath(ver, op="batch/associate/default"),
                                {"inputs": [{"from": {"id": c1}, "to": {"id": co}}]})
            self.assertEqual(st, 200, b)
            self.assertEqual(b["results"], [{"from": {"id": c1}, "to": {"id": co},
                                             "associationSpec": {
                                                 "associationCategory": "HUBSPOT_DEFINED",
                                                 "associationTypeId": 279}}])
            self.assertEqual(labels(), [(279, None), (mgr, "Manager"), (bil, "Billing")])
        # creating with only the unlabelled type: no labels remain
        st, b, _ = self.req("POST", self.apath("2026-09"), {"inputs": [
            self.ain(c1, co, ("HUBSPOT_DEFINED", 279))]})
        self.assertEqual((st, b["results"][0]["labels"]), (200, []))
        self.assertEqual(labels(), [(279, None)])
        # the reverse direction follows
        st, b, _ = self.req("POST", self.apath("v4", "companies", "contacts", "batch/read"),
                            {"inputs": [{"id": co}]})
        self.assertEqual(b["results"][0]["to"][0]["associationTypes"],
                         [{"category": "HUBSPOT_DEFINED", "typeId": 280, "label": None}])

    def test_assoc_labels_archive(self):
        (c1,) = self.mk("contacts", 1)
        co = self.mk("companies", 2)
        mgr = self.req("POST", self.apath("v4", op="labels"),
                       {"label": "Manager", "name": "manager"})[1]["results"][0]["typeId"]
        for ver, want in (("v4", 204), ("2026-03", 200), ("2026-09", 200)):
            self.req("POST", self.apath("v4"), {"inputs": [
                self.ain(c1, x, ("USER_DEFINED", mgr), ("HUBSPOT_DEFINED", 1)) for x in co]})
            # removing a label keeps the rest
            st, b, h = self.raw_req("POST", self.apath(ver, op="batch/labels/archive"), {
                "inputs": [self.ain(c1, co[0], ("USER_DEFINED", mgr))]})
            self.assertEqual(st, want, b)
            if want == 204:
                self.assertEqual(b, b"")
                self.assertNotIn("content-type", h)
            else:
                b = json.loads(b)
                self.assertEqual(b["status"], "COMPLETE")
                self.assertEqual(set(b), {"status", "results", "startedAt", "completedAt"})
            self.assertEqual([(a["to"], [t["typeId"] for t in a["types"]])
                              for a in self.held()], [(co[0], [279, 1]), (co[1], [279, 1, mgr])])
            # removing the unlabelled type removes every label of the pair
            st, b, _ = self.raw_req("POST", self.apath(ver, op="batch/labels/archive"), {
                "inputs": [self.ain(c1, co[1], ("HUBSPOT_DEFINED", 279))]})
            self.assertEqual(st, want)
            self.assertEqual([(a["to"], [t["typeId"] for t in a["types"]])
                              for a in self.held()], [(co[0], [279, 1])])
            self.assertEqual([a["to"] for a in self.held("companies", "contacts")], [c1])
            self.req("POST", self.apath("v4", op="batch/archive"),
                     {"inputs": [{"from": {"id": c1}, "to": [{"id": x} for x in co]}]})
            self.assertEqual(self.held(), [])
        # a type the pair does not have: 400, nothing removed
        self.req("POST", self.apath("v4"), {"inputs": [self.ain(c1, co[0], ("USER_DEFINED", mgr))]})
        st, b, h = self.req("POST", self.apath("v4", op="batch/labels/archive"), {"inputs": [
            self.ain(c1, co[0], ("USER_DEFINED", mgr)),
            self.ain(c1, co[0], ("HUBSPOT_DEFINED", 2))]})
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertEqual(len(self.held()[0]["types"]), 2)
        # duplicates
        st, b, h = self.req("POST", self.apath("2026-03", op="batch/labels/archive"), {"inputs": [
            self.ain(c1, co[0], ("USER_DEFINED", mgr)),
            self.ain(c1, co[0], ("USER_DEFINED", mgr))]})
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertIn("Duplicate", b["message"])
        # unknown records: nothing to remove
        self.assertEqual(self.raw_req("POST", self.apath("v4", op="batch/labels/archive"), {
            "inputs": [self.ain("999", co[0], ("USER_DEFINED", mgr))]})[0], 204)

    def test_assoc_archive_per_version(self):
        (c1,) = self.mk("contacts", 1)
        co = self.mk("companies", 3)
        for ver, want in (("v4", 204), ("2026-03", 200), ("2026-09", 200)):
            self.req("POST", self.apath("v4"), {"inputs": [
                self.ain(c1, x, ("HUBSPOT_DEFINED", 1)) for x in co]})
            self.assertEqual(len(self.held()), 3)
            st, b, h = self.raw_req("POST", self.apath(ver, op="batch/archive"), {"inputs": [
                {"from": {"id": c1}, "to": [{"id": co[0]}, {"id": co[1]}, {"id": "999"}]},
                {"from": {"id": "998"}, "to": [{"id": co[2]}]}]})
            self.assertEqual(st, want, b)
            if want == 204:
                self.assertEqual(b, b"")
            else:
                b = json.loads(b)
                self.assertEqual((b["status"], b["results"]), ("COMPLETE", []))
                self.assertIn("startedAt", b)
                self.assertNotIn("errors", b)
            self.assertEqual([a["to"] for a in self.held()], [co[2]])
            self.assertEqual([a["from"] for a in self.held("companies", "contacts")], [co[2]])
            self.req("POST", self.apath("v4", op="batch/archive"),
                     {"inputs": [{"from": {"id": c1}, "to": [{"id": co[2]}]}]})
            self.assertEqual(self.held(), [])
        # `to` is an array
        st, b, h = self.req("POST", self.apath("v4", op="batch/archive"),
                            {"inputs": [{"from": {"id": c1}, "to": {"id": co[0]}}]})
        self.assertEqual(st, 400)
        self.assertIn("Cannot deserialize value of type `java.util.List", b["message"])
        self.assertIn("from Object value", b["message"])

    def test_assoc_read_paging_and_errors(self):
        (c1,) = self.mk("contacts", 1)
        (c2,) = self.mk("contacts", 1)
        co = self.mk("companies", 501)
        st, b, _ = self.req("POST", self.apath("v4"), {"inputs": [
            self.ain(c1, x, ("HUBSPOT_DEFINED", 279)) for x in co]})
        self.assertEqual((st, len(b["results"])), (201, 501))
        st, b, _ = self.req("POST", self.apath("v4", op="batch/read"), {"inputs": [{"id": c1}]})
        self.assertEqual(st, 200)
        (r,) = b["results"]
        self.assertEqual(len(r["to"]), 500)
        self.assertEqual([t["toObjectId"] for t in r["to"]], [int(x) for x in co[:500]])
        after = r["paging"]["next"]["after"]
        self.assertIsInstance(after, str)
        st, b, _ = self.req("POST", self.apath("2026-03", op="batch/read"),
                            {"inputs": [{"id": c1, "after": after}]})
        (r,) = b["results"]
        self.assertEqual([t["toObjectId"] for t in r["to"]], [int(co[500])])
        self.assertNotIn("paging", r)
        st, b, h = self.req("POST", self.apath("v4", op="batch/read"),
                            {"inputs": [{"id": c1, "after": "not-a-cursor"}]})
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        # ids without associations: per-input errors naming the id
        for ver, want in (("v4", 207), ("2026-03", 207), ("2026-09", 200)):
            st, b, _ = self.req("POST", self.apath(ver, op="batch/read"), {"inputs": [
                {"id": c2}, {"id": "424242"}]})
            self.assertEqual(st, want, (ver, b))
            self.assertEqual(b["results"], [])
            self.assertEqual(b["numErrors"], 2)
            ctxs = sorted(e["context"]["fromObjectId"][0] for e in b["errors"])
            self.assertEqual(ctxs, sorted([c2, "424242"]))
            for e in b["errors"]:
                self.assertEqual(e["category"], "OBJECT_NOT_FOUND")
                self.assertIn(e["context"]["fromObjectId"][0], e["message"])
        # mixed: found + missing
        st, b, _ = self.req("POST", self.apath("v4", "companies", "contacts", "batch/read"),
                            {"inputs": [{"id": co[3]}, {"id": "5"}]})
        self.assertEqual(st, 207)
        self.assertEqual(b["results"][0]["to"], [{"toObjectId": int(c1), "associationTypes": [
            {"category": "HUBSPOT_DEFINED", "typeId": 280, "label": None}]}])
        self.assertEqual(b["errors"][0]["context"], {"fromObjectId": ["5"]})
        # shape: id required, unknown fields refused
        st, b, h = self.req("POST", self.apath("v4", op="batch/read"), {"inputs": [{}]})
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertEqual(b["message"], "Some required fields were not set: [id]")
        st, b, h = self.req("POST", self.apath("v4", op="batch/read"),
                            {"inputs": [{"id": c1, "idProperty": "email"}]})
        self.assertEqual(st, 400)
        self.assertIn('Unrecognized field "idProperty"', b["message"])

    def test_assoc_limits(self):
        (c1,) = self.mk("contacts", 1)
        for ver in ("v4", "2026-09"):
            for op, n, mx, inp in (
                    ("batch/create", 2001, 2000,
                     lambda i: self.ain(c1, str(i), ("HUBSPOT_DEFINED", 279))),
                    ("batch/archive", 2001, 2000,
                     lambda i: {"from": {"id": str(i)}, "to": [{"id": "1"}]}),
                    ("batch/labels/archive", 2001, 2000,
                     lambda i: self.ain(c1, str(i), ("HUBSPOT_DEFINED", 279))),
                    ("batch/associate/default", 2001, 2000,
                     lambda i: {"from": {"id": c1}, "to": {"id": str(i)}}),
                    ("batch/read", 1001, 1000, lambda i: {"id": str(i)})):
                st, b, h = self.req("POST", self.apath(ver, op=op),
                                    {"inputs": [inp(i) for i in range(n)]})
                self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
                self.assertEqual(b["message"], "The maximum number of inputs supported in a "
                                 "batch is %d. Please reduce the number of items and try again"
                                 % mx, op)
                st, b, h = self.req("POST", self.apath(ver, op=op),
                                    {"inputs": [inp(i) for i in range(mx)]})
                self.assertIn(st, (200, 204, 207), (op, b))
            st, b, h = self.req("POST", self.apath(ver), {"inputs": []})
            self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertEqual(self.held(), [])

    def test_assoc_duplicates(self):
        (c1,) = self.mk("contacts", 1)
        co = self.mk("companies", 2)
        st, b, h = self.req("POST", self.apath("v4"), {"inputs": [
            self.ain(c1, co[0], ("HUBSPOT_DEFINED", 279)),
            self.ain(c1, co[1], ("HUBSPOT_DEFINED", 279)),
            self.ain(c1, co[0], ("HUBSPOT_DEFINED", 1), ("HUBSPOT_DEFINED", 279))]})
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertIn("Duplicate associations found in batch input: [%s -> %s HUBSPOT_DEFINED "
                      "279]" % (c1, co[0]), b["message"])
        self.assertEqual(b["context"], {"fromObjectId": [c1], "toObjectId": [co[0]]})
        st, b, h = self.req("POST", self.apath("2026-09"), {"inputs": [
            self.ain(c1, co[0], ("HUBSPOT_DEFINED", 1), ("HUBSPOT_DEFINED", 1))]})
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        st, b, h = self.req("POST", self.apath("2026-03", op="batch/associate/default"), {
            "inputs": [{"from": {"id": c1}, "to": {"id": co[1]}},
                       {"from": {"id": c1}, "to": {"id": co[1]}}]})
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        self.assertIn("%s -> %s" % (c1, co[1]), b["message"])
        self.assertEqual(self.held(), [])

    def test_assoc_unknown_and_archived_records(self):
        c = self.mk("contacts", 2)
        co = self.mk("companies", 2)
        self.req("POST", V3 + "companies/batch/archive", {"inputs": [{"id": co[1]}]})
        for ver, want in (("v4", 207), ("2026-03", 207), ("2026-09", 200)):
            st, b, _ = self.req("POST", self.apath(ver), {"inputs": [
                self.ain(c[0], co[0], ("HUBSPOT_DEFINED", 279)),
                self.ain("999", co[0], ("HUBSPOT_DEFINED", 279)),
                self.ain(c[1], co[1], ("HUBSPOT_DEFINED", 279)),
                self.ain("999", "abc", ("HUBSPOT_DEFINED", 1)),
                self.ain(c[1], co[0], ("HUBSPOT_DEFINED", 280))]})
            self.assertEqual(st, want, b)
            self.assertEqual([(r["fromObjectId"], r["toObjectId"]) for r in b["results"]],
                             [(int(c[0]), int(co[0]))])
            ctx = sorted((sorted(e["context"].items()), e["category"]) for e in b["errors"])
            self.assertEqual(ctx, sorted([
                ([("fromObjectId", ["999"])], "OBJECT_NOT_FOUND"),
                ([("toObjectId", [co[1]])], "OBJECT_NOT_FOUND"),
                ([("toObjectId", ["abc"])], "OBJECT_NOT_FOUND"),
                ([("associationTypeId", ["280"]), ("fromObjectId", [c[1]]),
                  ("toObjectId", [co[0]])], "VALIDATION_ERROR")]))
            self.assertEqual(b["numErrors"], 4)
            for e in b["errors"]:
                self.assertEqual(e["status"], "error")
                for v in e["context"].values():
                    if e["category"] == "OBJECT_NOT_FOUND":
                        self.assertIn(v[0], e["message"])
            st, b, _ = self.req("POST", self.apath(ver, op="batch/associate/default"), {
                "inputs": [{"from": {"id": c[1]}, "to": {"id": co[1]}},
                           {"from": {"id": c[1]}, "to": {"id": co[0]}}]})
            self.assertEqual(st, want, b)
            self.assertEqual(b["results"][0]["to"], {"id": co[0]})
            self.assertEqual(b["errors"], [{
                "status": "error", "category": "OBJECT_NOT_FOUND",
                "message": b["errors"][0]["message"], "context": {"toObjectId": [co[1]]}}])
        self.assertEqual([(a["from"], a["to"]) for a in self.held()],
                         [(c[0], co[0]), (c[1], co[0])])

    def test_assoc_archiving_a_record_removes_its_associations(self):
        c = self.mk("contacts", 2)
        co = self.mk("companies", 1)
        self.req("POST", self.apath("v4"), {"inputs": [
            self.ain(x, co[0], ("HUBSPOT_DEFINED", 1)) for x in c]})
        self.assertEqual(len(self.held("companies", "contacts")), 2)
        self.assertEqual(self.req("POST", V3 + "contacts/batch/archive",
                                  {"inputs": [{"id": c[0]}]})[0], 204)
        self.assertEqual([a["from"] for a in self.held()], [c[1]])
        self.assertEqual([a["to"] for a in self.held("companies", "contacts")], [c[1]])
        st, b, _ = self.req("POST", self.apath("v4", op="batch/read"), {"inputs": [{"id": c[0]}]})
        self.assertEqual(st, 207)
        self.assertEqual(b["errors"][0]["context"], {"fromObjectId": [c[0]]})
        self.assertEqual(self.req("DELETE", V3 + "companies/" + co[0])[0], 204)
        self.assertEqual(self.held(), [])
        self.assertEqual(self.held("companies", "contacts"), [])

    def test_assoc_custom_objects(self):
        (c1,) = self.mk("contacts", 1)
        (p1,) = self.mk("2-77", 1, name="x")
        st, b, _ = self.req("GET", self.apath("v4", "contacts", "2-77", "labels"))
        self.assertEqual((st, b), (200, {"results": []}))
        for ver, want in (("v4", 207), ("2026-03", 207), ("2026-09", 200)):
            st, b, _ = self.req("POST", self.apath(ver, "contacts", "2-77",
                                                   "batch/associate/default"),
                                {"inputs": [{"from": {"id": c1}, "to": {"id": p1}}]})
            self.assertEqual(st, want, b)
            self.assertEqual(b["results"], [])
            self.assertEqual(b["errors"][0]["category"], "VALIDATION_ERROR")
            self.assertEqual(b["errors"][0]["context"], {"fromObjectId": [c1],
                                                         "toObjectId": [p1]})
        # a HubSpot type is not valid for the pair
        st, b, _ = self.req("POST", self.apath("v4", "contacts", "2-77"), {"inputs": [
            self.ain(c1, p1, ("HUBSPOT_DEFINED", 279))]})
        self.assertEqual(st, 207)
        # an association definition (unlabelled, user-defined) and a label, via the control API
        unl = self.ctl("POST", "/_sim/associations/contacts/2-77/labels",
                       {"label": None})["results"][0]
        self.assertEqual((unl["category"], unl["label"]), ("USER_DEFINED", None))
        st, b, _ = self.req("POST", self.apath("v4", "0-1", "2-77", "labels"),
                            {"label": "Sponsor", "name": "sponsor"})
        sp = b["results"][0]
        st, b, _ = self.req("POST", self.apath("2026-03", "contacts", "2-77"), {"inputs": [
            self.ain(c1, p1, ("USER_DEFINED", sp["typeId"]))]})
        self.assertEqual(st, 201, b)
        self.assertEqual(b["results"], [{"fromObjectTypeId": "0-1", "fromObjectId": int(c1),
                                         "toObjectTypeId": "2-77", "toObjectId": int(p1),
                                         "labels": ["Sponsor"]}])
        self.assertEqual(self.held("contacts", "2-77")[0]["types"], [unl, sp])
        rev = self.held("2-77", "contacts")[0]
        self.assertEqual((rev["from"], rev["to"]), (p1, c1))
        self.assertEqual([t["typeId"] for t in rev["types"]],
                         [unl["typeId"] + 1, sp["typeId"] + 1])

    def test_assoc_request_shapes(self):
        (c1,) = self.mk("contacts", 1)
        (co,) = self.mk("companies", 1)
        p = self.apath("v4")
        cases = [
            ({"inputs": [{"from": {"id": c1}, "to": {"id": co},
                          "types": [{"associationTypeId": 279}]}]},
             "Some required fields were not set: [associationCategory]"),
            ({"inputs": [{"from": {"id": c1}, "to": {"id": co}, "types": [{}]}]},
             "Some required fields were not set: [associationCategory, associationTypeId]"),
            ({"inputs": [{"from": {"id": c1}, "to": {"id": co}}]},
             "Some required fields were not set: [types]"),
            ({"inputs": [{"to": {"id": co}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]},
             "Some required fields were not set: [from]"),
            ({"inputs": [{"from": {}, "to": {"id": co}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]},
             "Some required fields were not set: [id]"),
            ({}, "Some required fields were not set: [inputs]"),
        ]
        for body, msg in cases:
            st, b, h = self.req("POST", p, body)
            self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
            self.assertEqual(b["message"], msg)
        for body, part in (
                ({"inputs": [self.ain(c1, co, ("NOPE", 279))]}, "not one of the values"),
                ({"inputs": [self.ain(c1, co, ("HUBSPOT_DEFINED", "x"))]},
                 "Cannot deserialize value of type `int`"),
                ({"inputs": [dict(self.ain(c1, co, ("HUBSPOT_DEFINED", 279)), extra=1)]},
                 'Unrecognized field "extra"'),
                ({"inputs": [{"from": {"id": c1}, "to": {"id": co},
                              "types": [{"category": "HUBSPOT_DEFINED", "typeId": 279}]}]},
                 'Unrecognized field "category"'),
                ({"inputs": {"from": 1}}, "Cannot deserialize"),
                ({"inputs": [{"from": "1", "to": {"id": co}, "types": []}]},
                 "Cannot deserialize"),
                ([], "Cannot deserialize")):
            st, b, h = self.req("POST", p, body)
            self.assertEqual(st, 400, body)
            self.assertIn(part, b["message"])
            self.assertTrue(b["message"].startswith("Invalid input JSON"))
            self.assertNotIn("category", b)
        st, b, h = self.req("POST", p, raw="{nope")
        self.assertEqual(st, 400)
        # numbers for ids and a digit string for the type id are coerced as Jackson does
        st, b, h = self.req("POST", p, {"inputs": [{
            "from": {"id": int(c1)}, "to": {"id": int(co)},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": "1"}]}]})
        self.assertEqual(st, 201, b)
        self.assertEqual(b["results"][0]["labels"], ["Primary"])
        # unknown object types, paths, methods, media type
        for f, t in (("foo", "companies"), ("contacts", "2-x"), ("contacts", "foo")):
            st, b, h = self.req("POST", self.apath("v4", f, t), {"inputs": []})
            self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
            self.assertEqual(b["message"], "Unable to infer object type from: %s"
                             % (f if f == "foo" else t))
        self.assertEqual(self.req("POST", self.apath("v4", op="batch/nope"), {})[0], 404)
        self.assertEqual(self.req("POST", self.apath("2025-03", op="batch/read"), {})[0], 404)
        self.assertEqual(self.req("GET", self.apath("v4", op="batch/read"))[0], 405)
        st, b, h = self.req("POST", self.apath("v4", op="batch/read"),
                            {"inputs": [{"id": c1}]},
                            {"Authorization": "Bearer pat-test", "Content-Type": "text/plain"})
        self.assertEqual(st, 415)

    def test_assoc_auth_scopes_rate_limits(self):
        (c1,) = self.mk("contacts", 1)
        (co,) = self.mk("companies", 1)
        body = {"inputs": [self.ain(c1, co, ("HUBSPOT_DEFINED", 279))]}
        for path in (self.apath("v4"), self.apath("2026-09", op="labels")):
            st, b, h = self.req("POST", path, body if "batch" in path else {"label": "a",
                                                                              "name": "a"},
                                {"Content-Type": "application/json"})
            self.assert_error(st, b, h, 401, "INVALID_AUTHENTICATION")
        st, b, h = self.req("POST", self.apath("v4"), body, RO)
        self.assert_error(st, b, h, 403, "MISSING_SCOPES")
        self.assertEqual(b["errors"][0]["context"]["requiredGranularScopes"],
                         ["crm.objects.contacts.write"])
        # read scopes suffice for batch/read and the labels
        self.req("POST", self.apath("v4"), body)
        self.assertEqual(self.req("POST", self.apath("v4", op="batch/read"),
                                  {"inputs": [{"id": c1}]}, RO)[0], 200)
        self.assertEqual(self.req("GET", self.apath("2026-03", op="labels"), headers=RO)[0], 200)
        # both types' scopes are needed
        self.config(tokens={"pat-c": ["crm.objects.contacts.write"],
                            "pat-ct": ["crm.objects.contacts.read", "tickets"]})
        c = {"Authorization": "Bearer pat-c", "Content-Type": "application/json"}
        st, b, h = self.req("POST", self.apath("v4", op="batch/archive"),
                            {"inputs": [{"from": {"id": c1}, "to": [{"id": co}]}]}, c)
        self.assert_error(st, b, h, 403, "MISSING_SCOPES")
        self.assertEqual(b["errors"][0]["context"]["requiredGranularScopes"],
                         ["crm.objects.companies.write"])
        ct = {"Authorization": "Bearer pat-ct", "Content-Type": "application/json"}
        st, b, h = self.req("POST", self.apath("v4", "tickets", "contacts", "batch/read"),
                            {"inputs": [{"id": "1"}]}, ct)
        self.assertEqual(st, 207, b)
        st, b, h = self.req("POST", self.apath("v4", "tickets", "contacts"),
                            {"inputs": [self.ain("1", c1, ("HUBSPOT_DEFINED", 16))]}, ct)
        self.assertEqual(b["errors"][0]["context"]["requiredGranularScopes"],
                         ["crm.objects.contacts.write"])
        # one ten-second budget with the objects API, the same headers, the same 429 (a
        # fresh token: a window of its own)
        self.config(rate_limit_max=3, rate_limit_interval_ms=10000, tokens={"pat-r": "all"})
        r = {"Authorization": "Bearer pat-r", "Content-Type": "application/json"}
        rem = []
        for path, b_ in ((V3 + "contacts/batch/read", {"inputs": [{"id": c1}]}),
                         (self.apath("v4", op="batch/read"), {"inputs": [{"id": c1}]}),
                         (self.apath("2026-09", op="batch/associate/default"),
                          {"inputs": [{"from": {"id": c1}, "to": {"id": co}}]})):
            st, b, h = self.req("POST", path, b_, r)
            self.assertEqual(st, 200, b)
            self.assertEqual(h["x-hubspot-ratelimit-max"], "3")
            self.assertEqual(h["x-hubspot-ratelimit-interval-milliseconds"], "10000")
            self.assertIn("x-hubspot-ratelimit-daily-remaining", h)
            rem.append(h["x-hubspot-ratelimit-remaining"])
        self.assertEqual(rem, ["2", "1", "0"])
        for path in (self.apath("v4"), self.apath("2026-03", op="labels")):
            st, b, h = self.req("GET" if path.endswith("labels") else "POST", path,
                                None if path.endswith("labels") else body, r)
            self.assert_error(st, b, h, 429)
            self.assertEqual(b["policyName"], "TEN_SECONDLY_ROLLING")
            self.assertEqual(h["x-hubspot-ratelimit-remaining"], "0")
        self.assertEqual(self.req("GET", V3 + "contacts", headers=r)[0], 429)

    def test_assoc_faults_log_and_shuffle(self):
        c = self.mk("contacts", 6)
        (co,) = self.mk("companies", 1)
        self.ctl("DELETE", "/_sim/requests")
        body = {"inputs": [self.ain(x, co, ("HUBSPOT_DEFINED", 279)) for x in c]}
        self.fault(status=503, match="/associations/", count=1)
        self.fault(drop=True, match="associate/default")
        st, b, h = self.req("POST", self.apath("v4"), body)
        self.assert_error(st, b, h, 503)
        self.assertEqual(self.held(), [])
        # applied, then the answer lost
        self.fault(drop=True, apply=True, match="/associations/")
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.req("POST", self.apath("2026-03"), body)
        self.conn.close()
        self.assertEqual(len(self.held()), 6)
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.req("POST", self.apath("v4", op="batch/associate/default"),
                     {"inputs": [{"from": {"id": c[0]}, "to": {"id": co}}]})
        self.conn.close()
        # delays and header overrides apply too
        self.fault(delay_ms=150, headers={"X-Extra": "1"}, match="batch/read")
        t0 = time.time()
        st, b, h = self.req("POST", self.apath("v4", "companies", "contacts", "batch/read"),
                            {"inputs": [{"id": co}]})
        self.assertGreaterEqual(time.time() - t0, 0.14)
        self.assertEqual((st, h["x-extra"]), (200, "1"))
        # results are not in input order
        got = [str(t["toObjectId"]) for t in b["results"][0]["to"]]
        self.assertEqual(sorted(got, key=int), c)
        st, b, _ = self.req("POST", self.apath("v4"), body)
        order = [str(r["fromObjectId"]) for r in b["results"]]
        self.assertEqual(sorted(order, key=int), c)
        self.assertNotEqual(order, c)
        # envelope faults work on association batch/create and batch/read
        self.fault(envelope_status="PROCESSING", match="/associations/")
        st, b, _ = self.req("POST", self.apath("v4", op="batch/read"), {"inputs": [{"id": c[0]}]})
        self.assertEqual((st, b["status"]), (200, "PROCESSING"))
        # a replacing fault's default answer on a date version's create
        self.fault(results=False, match="2026-09", status=200)
        st, b, _ = self.req("POST", self.apath("2026-09"), body)
        self.assertEqual((st, b["results"]), (200, []))
        # the log
        log = self.log()
        self.assertEqual([(r["method"], r["path"], r["status"], r["ninputs"]) for r in log], [
            ("POST", self.apath("v4"), 503, 6),
            ("POST", self.apath("2026-03"), 0, 6),
            ("POST", self.apath("v4", op="batch/associate/default"), 0, 1),
            ("POST", self.apath("v4", "companies", "contacts", "batch/read"), 200, 1),
            ("POST", self.apath("v4"), 201, 6),
            ("POST", self.apath("v4", op="batch/read"), 200, 1),
            ("POST", self.apath("2026-09"), 200, 6)])
        self.assertEqual(log[0]["body"], body)
        self.assertEqual(log[0]["fault"], {"status": 503, "match": "/associations/"})

    def test_assoc_not_done_envelope_writes_nothing(self):
        (c1,) = self.mk("contacts", 1)
        (co,) = self.mk("companies", 1)
        body = {"inputs": [self.ain(c1, co, ("HUBSPOT_DEFINED", 1))]}
        self.fault(envelope_status="PENDING", results=False, match="/associations/")
        st, b, _ = self.req("POST", self.apath("v4"), body)
        self.assertEqual((st, b["status"], b["results"]), (201, "PENDING", []))
        self.assertEqual(self.held(), [])
        # a request HubSpot rejects as a whole still gets its 400
        self.fault(envelope_status="PENDING", results=False, match="/associations/")
        st, b, h = self.req("POST", self.apath("v4"), {"inputs": body["inputs"] * 2})
        self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
        # the identical request, later, does it
        st, b, _ = self.req("POST", self.apath("v4"), body)
        self.assertEqual((st, b["results"][0]["labels"]), (201, ["Primary"]))
        self.assertEqual(len(self.held()), 1)
        # error_context applies to association errors too
        self.config(error_context="empty")
        st, b, _ = self.req("POST", self.apath("v4"), {"inputs": [
            self.ain("999", co, ("HUBSPOT_DEFINED", 1))]})
        self.assertEqual((st, b["errors"][0]["context"]), (207, {}))

    def test_assoc_sink_mode(self):
        self.config(mode="sink")
        st, b, _ = self.req("POST", self.apath("v4"), {"inputs": [
            self.ain("1", "2", ("HUBSPOT_DEFINED", 279))]})
        self.assertEqual((st, b["results"][0]["fromObjectId"]), (201, 1))
        st, b, _ = self.req("POST", self.apath("2026-09", op="batch/associate/default"),
                            {"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}}]})
        self.assertEqual(b["results"][0]["associationSpec"]["associationTypeId"], 279)
        self.assertEqual(self.raw_req("POST", self.apath("v4", op="batch/archive"), {
            "inputs": [{"from": {"id": "1"}, "to": [{"id": "2"}]}]})[0], 204)
        self.assertEqual(self.held(), [])

    def test_simctl_associations(self):
        (c1,) = self.mk("contacts", 1)
        (co,) = self.mk("companies", 1)
        self.assertEqual(self.simctl("assoc-label", "contacts", "companies",
                                     '{"label": "Manager", "typeId": 500, '
                                     '"inverseTypeId": 501}')[0], 0)
        self.req("POST", self.apath("v4"), {"inputs": [
            self.ain(c1, co, ("USER_DEFINED", 500))]})
        self.assertEqual(self.simctl("associations", "companies", "contacts")[1],
                         '%s\t%s\tHUBSPOT_DEFINED:280,USER_DEFINED:501:Manager\n' % (co, c1))
        self.assertEqual(self.simctl("associations", "0-1", "0-2")[1],
                         '%s\t%s\tHUBSPOT_DEFINED:279,USER_DEFINED:500:Manager\n' % (c1, co))
        out = self.simctl("assoc-labels", "contacts", "companies")[1]
        self.assertEqual(out, "HUBSPOT_DEFINED:279\nHUBSPOT_DEFINED:1:Primary\n"
                              "USER_DEFINED:500:Manager\n")

    # ------------------------------------------------------------------ what the client's
    # association keys rely on
    def test_company_domain_is_searchable_not_a_key(self):
        props = self.req("GET", "/crm/v3/properties/companies")[1]["results"]
        byname = {p["name"]: p for p in props}
        self.assertIn("domain", byname)
        self.assertIs(byname["domain"]["hasUniqueValue"], False)
        self.assertIs(byname["company_code"]["hasUniqueValue"], True)
        for t in ("contacts", "companies", "deals", "tickets", "2-5", "products"):
            for p in self.req("GET", "/crm/properties/2026-09/" + t)[1]["results"]:
                self.assertIsInstance(p.get("hasUniqueValue"), bool, (t, p["name"]))
        self.assertIs(self.req("GET", "/crm/v3/properties/companies/domain")[1]
                      ["hasUniqueValue"], False)
        co = self.mk("companies", 1, domain="a.com") + self.mk("companies", 1, domain="b.com") \
            + self.mk("companies", 1, domain="a.com") + self.mk("companies", 1, domain="c.com")
        # batch/read by domain: 400 (not a unique property)
        for prefix in (V3, "/crm/objects/2026-03/", "/crm/objects/2026-09/"):
            st, b, h = self.req("POST", prefix + "companies/batch/read", {
                "idProperty": "domain", "inputs": [{"id": "a.com"}], "properties": ["domain"]})
            self.assert_error(st, b, h, 400, "VALIDATION_ERROR")
            self.assertEqual(b["message"], "Unable to perform update/upsert by non-unique 0-2 "
                             "property domain")
        # search IN on domain: the live matching records
        self.req("POST", V3 + "companies/batch/archive", {"inputs": [{"id": co[2]}]})
        st, b, h = self.req("POST", V3 + "companies/search", {
            "filterGroups": [{"filters": [{"propertyName": "domain", "operator": "IN",
                                           "values": ["a.com", "c.com", "zz.com"]}]}],
            "properties": ["domain"], "limit": 100})
        self.assertEqual(st, 200, b)
        self.assertEqual(b["total"], 2)
        self.assertEqual(sorted((r["id"], r["properties"]["domain"]) for r in b["results"]),
                         [(co[0], "a.com"), (co[3], "c.com")])
        self.assertNotIn("x-hubspot-ratelimit-max", h)

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
