#!/usr/bin/env python3
"""HubSpot CRM API simulator for the hubspot_fdw tests (Python 3 standard library only).

    python3 test/hubspot_sim.py [--host 127.0.0.1] [--port 0] [--port-file PATH] [--verbose]
                                [--cpu N]

Binds (port 0 = a free port), writes the port to PATH (atomically), serves until SIGTERM/SIGINT
and exits 0.  Behaves as shared/hubspot-api/REFERENCE.md says HubSpot does:

  /crm/v3/objects/{t}/...  and  /crm/objects/{YYYY-MM >= 2025-09}/{t}/...  (2026-09 and later:
  partial failures are 200/201 with errors[], earlier ones 207)
      POST batch/{upsert,update,create,read,archive}, GET list, GET/PATCH/DELETE {id},
      POST (create one), POST search
  /crm/v3/properties/{t}[/{name}]  and  /crm/properties/{YYYY-MM}/{t}[/{name}]   (GET)
  /crm/v4/associations/{from}/{to}/...  and  /crm/associations/{YYYY-MM}/{from}/{to}/...
      POST batch/{create, associate/default, read, archive, labels/archive}, GET|POST labels
      (see "Associations" below)
  /crm/v3/schemas[/{t}]  and  /crm-object-schemas/v3/schemas[/{t}]   (GET; custom object
      schemas registered with POST /_sim/schemas; scope crm.schemas.custom.read)
  t = plural name or 0-N of a standard type, 2-N, p_name or pNNN_name.
  Tokens: pat-test (all scopes), pat-readonly (crm.objects.*.read, crm.schemas.*.read).

  Every type's schema is closed: a property it does not define is PROPERTY_DOESNT_EXIST.
  contacts, companies, deals and tickets have the DEFAULT_SCHEMAS below (unique: external_id,
  company_code, deal_code, ticket_code; contacts also key upserts by email); the other standard
  types a few of their HubSpot properties (OTHER_SCHEMAS, else hs_name/hs_description) plus a
  unique "external_id"; custom objects (2-N, p_name) name, description, amount (number),
  status (enumeration active|inactive), start_date (date) and a unique "external_id".  The
  auto properties hs_object_id, createdate, lastmodifieddate exist everywhere (read-only).
  POST /_sim/properties/{t} replaces a type's schema (the auto properties are kept).
  POST /_sim/schemas registers a custom object (what GET /crm/v3/schemas lists): its 2-N id,
  p_name and p{portal}_name then name one type whose properties are the schema's.
  POST search: the limits and semantics of REFERENCE.md section 9 (see Sim.search).
  Batch-wide 400s (whole request, with or without trace ids): an idProperty that is not unique
  ("Unable to perform update/upsert by non-unique 0-2 property domain"; contacts' email only
  keys upserts and batch/read), an unknown type ("Unable to infer object type from: X"),
  duplicate ids, > 100 inputs, a malformed body (with strict_fields: unknown fields, e.g.
  idProperty in batch/archive inputs, which take only the record id).

Associations (REFERENCE.md section 13).  Stored per (from type, from id, to type, to id) as a
set of types {category, typeId}, mirrored: every change is also made from the other side with
the inverse types, so reading companies -> contacts shows what contacts -> companies created.
  Types of a pair: the HUBSPOT_DEFINED ones of HS_ASSOC (section 13's table: 279/280 unlabelled,
  1/2 "Primary", ...; reverse ids of subscriptions' types 296/298/300/302 are the simulator's;
  13 "Parent Company" <-> 14 "Child Company"), plus user-defined labels (POST labels or the
  control API).  A label gets one typeId per direction: N from -> to, N + 1 to -> from (ids from
  1001 up); between two records of one type the same id both ways (unless inverseLabel
  differs).  Pairs not in HS_ASSOC (custom objects, other standard types) have no default
  association; the control API can give them an unlabelled user-defined type (label null).
  Unlabelled types read back with label null.
  batch/create: the pair's types become exactly the given ones (the union of the batch's inputs
    for that pair) plus the pair's unlabelled type: labels not given are removed.  Results, one
    per pair: {"fromObjectTypeId":"0-1","fromObjectId":1001,"toObjectTypeId":"0-2",
    "toObjectId":1002,"labels":["Manager"]} (labels of the labelled types now on the pair).
    v4 / 2026-03: 201, 207 when some inputs failed; 2026-09: 200 (with errors[]).
  batch/associate/default: adds the HUBSPOT_DEFINED unlabelled type (labels kept); 200 (207 in
    v4 / 2026-03 with errors); results {"from":{"id"},"to":{"id"},"associationSpec":{
    "associationCategory":"HUBSPOT_DEFINED","associationTypeId":279}}.  A pair without one
    (custom objects): per-input VALIDATION_ERROR, context {fromObjectId, toObjectId}.
  batch/read: {"inputs":[{"id","after"?}]} -> [{"from":{"id"},"to":[{"toObjectId":N,
    "associationTypes":[{"category","typeId","label"}]}],"paging"?:{"next":{"after"}}}], to ids
    ascending, <= 500 a page (after: opaque).  An id with no associations (unknown, archived):
    per-input OBJECT_NOT_FOUND "No company is associated with contact 5.", context
    {"fromObjectId":["5"]}.  200; 207 in v4 / 2026-03 when some failed.
  batch/archive ({"from":{"id"},"to":[{"id"}...]}): removes every type between the pairs;
    batch/labels/archive (body as create): removes the given types, the unlabelled type takes
    every label with it; a type the pair does not have -> 400.  v4: 204; date versions: 200
    {"status":"COMPLETE","results":[],...}.  Unknown ids are no error (nothing to remove).
  Per-input errors for unknown or archived records (create, associate/default), each (side, id)
  once a batch: {"status":"error","category":"OBJECT_NOT_FOUND","message":"Could not get
  CONTACT object 999 (the 'from' side ...","context":{"fromObjectId":["999"]}} (or
  toObjectId); a type not valid for the pair: VALIDATION_ERROR with context fromObjectId,
  toObjectId, associationTypeId.
  Whole-request 400s: > 2,000 inputs (read: > 1,000), no inputs, duplicate (from, to, type)
  (associate/default: (from, to)) -> "Duplicate associations found in batch input: [1001 ->
  1002 HUBSPOT_DEFINED 279]. ..." with context {fromObjectId, toObjectId}, a type without
  associationCategory / associationTypeId ("Some required fields were not set: [...]"),
  malformed bodies, unknown object types.  Scopes: both types' write scopes (read scopes for
  batch/read and GET labels).  Archiving a record removes its associations.  Inline
  "associations" of objects batch/create are accepted and ignored.
  GET labels -> {"results":[{"category","typeId","label"}]} (unlabelled first, then HubSpot's,
  then the others); POST labels {"label","name","inverseLabel"?} -> 200 {"results":[the new
  from -> to type]}; a label or name the pair has -> 400.

Order of one API call: read the body; request target (path?query) longer than max_url_length
-> 414 text/html page as HubSpot's edge (Cloudflare) sends it, no correlation id, not rate
counted, connection closed; faults; then (unless a fault answers instead) latency_ms, route,
auth (401), rate limits (429), type (400), scopes (403), content type (415), the handler.
Every call is written to the request log and stats BEFORE its answer is sent (or its connection
dropped): a client that has its answer always finds its call in GET /_sim/requests.

Control API (no auth, JSON, not logged, never faulted):
  POST /_sim/reset                 objects, log, faults, counters, config, schemas -> defaults
  GET|POST /_sim/config            merge keys of DEFAULT_CONFIG below, plus "tokens":
                                   {token: "all" | [scopes, "*" wildcards ok] | null (remove)}
  GET|POST|DELETE /_sim/faults     POST appends one fault (below); GET lists those pending
  GET|DELETE /_sim/requests        GET ?since=SEQ -> {"requests": [{seq, method, path, query,
                                   headers, body, ninputs, status (0 = dropped), t_start,
                                   t_end, fault (the options of the fault it took, if any)}]}
  GET|DELETE /_sim/stats           calls, by_status, inputs, rate_limited, max_in_flight, ...
  GET /_sim/objects/{t}            stored objects incl. archived, by id
  GET|POST /_sim/properties/{t}    POST {"properties": [Property...]} replaces t's schema
  GET /_sim/associations/{from}/{to}         {"results": [{"from": "1001", "to": "1002",
                                   "types": [{category, typeId, label}]}]} (ids ascending)
  GET|POST /_sim/associations/{from}/{to}/labels   the pair's types; POST {"label": "X" |
                                   null, "name", "inverseLabel", "category" (USER_DEFINED),
                                   "typeId", "inverseTypeId"} defines one (and its inverse)
  POST /_sim/schemas               {"name", "labels"?, "properties": [Property...],
                                   "primaryDisplayProperty"?, "requiredProperties"?,
                                   "searchableProperties"?, "objectTypeId"?} registers a custom
                                   object (objectTypeId 2-N assigned unless given) -> the schema
  POST /_sim/daily_reset           reset the daily counters

Config keys (DEFAULT_CONFIG; defaults are HubSpot's behaviour):
  rate_limit_max, rate_limit_interval_ms, daily_limit, search_rate_limit  limits (0 = none)
  send_rate_headers     X-HubSpot-RateLimit-* on answers (never on search)
  retry_after_on_429    null or seconds: Retry-After on 429s (HubSpot documents none)
  retry_after_format    "seconds" (default) | "http-date" (IMF-fixdate of now + seconds,
                        rounded up) for that Retry-After
  shuffle_results       true (random rotation, reversed: never the input order) | "reverse" |
                        false
  result_trace_ids      "echo" (default: results carry the input's objectWriteTraceId) |
                        "omit" (no objectWriteTraceId in results, as HubSpot's documented 207
                        example; results still shuffled)
  error_context         context of errors[] in batch envelopes: "default" (objectWriteTraceId
                        for per-input errors; ids, plus objectWriteTraceId when traced, for
                        OBJECT_NOT_FOUND) | "no_trace_ids" (objectWriteTraceId removed, ids
                        kept) | "empty" ({}) | "omit" (no context key).  Error bodies of whole-
                        request errors keep theirs.
  max_url_length        8000 (HubSpot 414s are reported at ~2,000-16,000); 0 = no limit (Python's
                        http.server still refuses request lines over 65536 bytes itself)
  strict_fields         unknown fields in request bodies -> malformed-JSON 400 (HubSpot's Jackson)
  latency_ms, record_bodies, mode ("normal" | "sink": answer without storing), log_limit

Faults: POST /_sim/faults {...}.  Common keys: count (default 1; negative = until cleared),
match (substring of the path).  The first pending fault that matches is used (and counted) by
the next API call, before auth and rate limits.  Faults with an envelope option (envelope_status,
results, result_trace_ids, error_context) only match POST batch/{upsert,update,create,read}
(calls answered with a batch envelope); others pass over them.  Perl-style 1/0 work as booleans.

  A fault with any REPLACING option answers in HubSpot's place.  By default the request is NOT
  performed (nothing stored; as before these options existed).  With "apply": true it is
  performed first as HubSpot would (auth, rate limits, writes stored), then its answer is
  replaced ("applied but the answer was lost"); delay_ms then delays the broken answer.
  Replacing options:
    status N         the HTTP status (default: the real one with apply, else 200; 201 on
                     batch/create).  4xx/5xx without body: a HubSpot-like error body (429:
                     TEN_SECONDLY_ROLLING, plus Retry-After per retry_after_on_429; 477:
                     Retry-After 1).  Fault answers carry no X-HubSpot-RateLimit-* headers
                     unless applied without status (then the real answer's headers).
    body JSON|str    the body (a string is sent as text/plain)
    drop true        close the connection without an answer (logged with status 0)
    garbage true     a non-JSON body labelled application/json
    truncate true    send half the body, declare the full Content-Length, close
    truncate_at N    the same, sending only the first N bytes
    raw_body "..."   these bytes as the body, as they are; content_type (default
                     application/json;charset=utf-8; null = no Content-Type header)
    empty_body true  Content-Length: 0 (Content-Type application/json)
    nest_depth N     "results" holds N nested arrays/objects (valid JSON, N+1 deep in all);
                     nest_kind "mixed" (default, [{"a":[{"a":...}]}]) | "array" | "object"
    raw_number "T"   the literal T (e.g. "1e1000000") as the value of number_field (default
                     "numErrors"), first member of the envelope
    nul_string W     a NUL (\\u0000 in the JSON) inserted after the first character of
                     strings of the answer: W true | "properties" (every non-empty property
                     value of each result), "id", "objectWriteTraceId" (of each result),
                     "message" (error messages)
    wrong_types W    W true | "error": {"status":"error","message":400,"category":
                     ["VALIDATION_ERROR"],"errors":{...},"context":"objectWriteTraceId",
                     "correlationId":...}; "batch": the envelope with "numErrors":"1" and
                     errors [{"message":7,"category":[...],"context":"objectWriteTraceId"}]
    pad_bytes N      the body grown to exactly N bytes: an "x_sim_padding" string member in a
                     JSON object, else trailing spaces (a larger body is left as it is)
  The JSON body these work on: body if given; else wrong_types' error body; else with a status
  >= 300 the error body above; else the real answer (apply); else a HubSpot-like envelope: on
  batch upsert/update/create/read what sink mode answers (results mirroring the inputs, fake
  ids >= 1000000000, trace ids echoed), elsewhere COMPLETE with no results.  Only one of
  raw_body, empty_body, garbage (they are the whole body).

  Other options modify the answer of the request, which is performed (with replacing options
  they shape the replacement's envelope):
    delay_ms N       wait N ms first
    headers {...}    headers of the answer: same names (any case) replaced, null removes one,
                     others added; works on any answer, e.g. a 200 with
                     {"X-HubSpot-RateLimit-Max": "1", "X-HubSpot-RateLimit-Interval-
                     Milliseconds": "2147483647"}, a 429 with {"Retry-After": "-5"}.  A
                     Content-Length given here is sent as is (a larger one than the body makes
                     the client wait for bytes that never come); "Connection": "close" closes.
    envelope_status  "PENDING" | "PROCESSING" | "CANCELED" | "COMPLETE": the envelope's status
                     (HTTP status unchanged)
    results          true (default) | false (results: []) | "omit" (no results key); without
                     results, errors/numErrors are left out too.  With a not-done status
                     (PENDING, PROCESSING, CANCELED) and results false/"omit" the writes are
                     NOT done (HubSpot has not done them yet; a later identical request would
                     do them; no per-input errors either, so 200/201, never 207), though a
                     request HubSpot rejects as a whole still gets its 400.
                     With results given, or with COMPLETE, the writes ARE done and answered.
                     (In a fault with replacing options, "apply" alone decides.)
    result_trace_ids, error_context   as the config keys, for this call
"""

import argparse
import base64
import bisect
import copy
import datetime as dt
import itertools
import json
import math
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# --------------------------------------------------------------------------------------------
# Fixed texts (REFERENCE.md sections 3, 4.3, 5, 6)

MSG_401 = ("Authentication credentials not found. This API supports OAuth 2.0 authentication and "
           "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
MSG_403 = ("This app hasn't been granted all required scopes to make this call. Read more about "
           "required scopes here: https://developers.hubspot.com/scopes.")
MSG_TOO_MANY = ("The maximum number of inputs supported in a batch is 100. Please reduce the number "
                "of items and try again")
MSG_TOO_MANY_HIST = ("The maximum number of inputs supported in a batch request for property "
                     "histories is 50. Please reduce the number of items and try again")
MSG_TEN_SECONDLY = "You have reached your ten_secondly_rolling limit."
MSG_DAILY = "You have reached your daily limit."
MSG_SECONDLY = "You have reached your secondly limit."
SCOPES_LINK = "https://developers.hubspot.com/scopes"

JSON_CT = "application/json;charset=utf-8"
MAX_STRING = 65536
SEARCH_MAX_BODY = 3000       # characters of a search request body
FIRST_ID = 1001
UNLIMITED_REPORTED_MAX = 100000
UNLIMITED_REPORTED_DAILY = 1000000000

REASONS = {s.value: s.phrase for s in HTTPStatus}
REASONS.update({207: "Multi-Status", 423: "Locked", 429: "Too Many Requests",
                477: "Migration in Progress", 520: "Unknown Error", 521: "Web Server Is Down",
                522: "Connection Timed Out", 523: "Origin Is Unreachable",
                524: "A Timeout Occurred"})

DEFAULT_TOKENS = {
    "pat-test": "all",
    "pat-readonly": ["crm.objects.*.read", "crm.schemas.*.read"],
}

DEFAULT_CONFIG = {
    "rate_limit_max": 0,             # requests per window per token; 0 = unlimited
    "rate_limit_interval_ms": 10000,
    "daily_limit": 250000,           # per token; 0 = unlimited
    "send_rate_headers": True,
    "retry_after_on_429": None,      # None or seconds -> Retry-After on 429s
    "shuffle_results": True,         # True (random, never input order), "reverse", False
    "latency_ms": 0,
    "record_bodies": True,
    "mode": "normal",                # "normal" | "sink"
    "search_rate_limit": 5,          # search requests per second per token; 0 = unlimited
    "strict_fields": True,           # unknown fields in request bodies -> malformed-JSON 400
    "log_limit": 100000,             # request-log entries kept (oldest dropped)
    "result_trace_ids": "echo",      # "echo": results carry the input's objectWriteTraceId;
                                     # "omit": never (as HubSpot's documented 207 example)
    "error_context": "default",      # context of errors[] in batch answers: "default" (ids /
                                     # objectWriteTraceId as HubSpot), "no_trace_ids", "empty"
                                     # ({}) or "omit" (no context key)
    "retry_after_format": "seconds",  # Retry-After on 429s: "seconds" or "http-date"
    "max_url_length": 8000,          # longer request targets (path?query) -> 414; 0 = no limit
}
CONFIG_CHOICES = {
    "mode": ("normal", "sink"),
    "result_trace_ids": ("echo", "omit"),
    "error_context": ("default", "no_trace_ids", "empty", "omit"),
    "retry_after_format": ("seconds", "http-date"),
}

# --------------------------------------------------------------------------------------------
# Object types (REFERENCE.md section 7)

STANDARD_TYPES = [
    ("contacts", "0-1", "CONTACT"), ("companies", "0-2", "COMPANY"), ("deals", "0-3", "DEAL"),
    ("tickets", "0-5", "TICKET"), ("products", "0-7", "PRODUCT"),
    ("line_items", "0-8", "LINE_ITEM"), ("quotes", "0-14", "QUOTE"),
    ("communications", "0-18", "COMMUNICATION"),
    ("feedback_submissions", "0-19", "FEEDBACK_SUBMISSION"), ("tasks", "0-27", "TASK"),
    ("notes", "0-46", "NOTE"), ("meetings", "0-47", "MEETING"), ("calls", "0-48", "CALL"),
    ("emails", "0-49", "EMAIL"), ("invoices", "0-53", "INVOICE"),
    ("marketing_events", "0-54", "MARKETING_EVENT"), ("subscriptions", "0-69", "SUBSCRIPTION"),
    ("goals", "0-74", "GOAL"), ("discounts", "0-84", "DISCOUNT"), ("fees", "0-85", "FEE"),
    ("taxes", "0-86", "TAX"), ("commerce_payments", "0-101", "COMMERCE_PAYMENT"),
    ("users", "0-115", "USER"), ("postal_mail", "0-116", "POSTAL_MAIL"),
    ("orders", "0-123", "ORDER"), ("leads", "0-136", "LEAD"), ("carts", "0-142", "CART"),
    ("services", "0-162", "SERVICE"), ("courses", "0-410", "COURSE"),
    ("listings", "0-420", "LISTING"), ("appointments", "0-421", "APPOINTMENT"),
    ("projects", "0-970", "PROJECT"),
]


class ObjType:
    """A resolved object type: canonical store key, type id (0-1 ...), singular name, scopes."""
    __slots__ = ("key", "type_id", "singular", "write_scopes", "read_scopes", "schema_scopes")

    def __init__(self, key, type_id, singular, scope_name):
        self.key = key
        self.type_id = type_id
        self.singular = singular
        if key == "tickets":
            self.write_scopes = ("tickets",)
            self.read_scopes = ("crm.objects.tickets.read", "tickets")
        else:
            w = "crm.objects.%s.write" % scope_name
            r = "crm.objects.%s.read" % scope_name
            extra = ("e-commerce",) if key in ("products", "line_items") else ()
            self.write_scopes = (w,) + extra
            self.read_scopes = (r, w) + extra
        self.schema_scopes = ("crm.schemas.%s.read" % scope_name,) + self.read_scopes


TYPES_BY_NAME = {}
for _n, _i, _s in STANDARD_TYPES:
    _t = ObjType(_n, _i, _s, _n)
    TYPES_BY_NAME[_n] = _t
    TYPES_BY_NAME[_i] = _t
RE_CUSTOM_ID = re.compile(r"^2-\d+$")
RE_CUSTOM_NAME = re.compile(r"^p\d*_([a-z0-9_]+)$")
_custom_types = {}


def resolve_type(name):
    """Object type from a path segment, or None when HubSpot could not infer it."""
    t = TYPES_BY_NAME.get(name) or TYPES_BY_NAME.get(name.lower())
    if t is not None:
        return t
    t = _custom_types.get(name)
    if t is not None:
        return t
    low = name.lower()
    if RE_CUSTOM_ID.match(low):
        t = ObjType(low, low, low.upper(), "custom")
    else:
        m = RE_CUSTOM_NAME.match(low)
        if not m:
            return None
        key = "p_" + m.group(1)
        t = ObjType(key, key, m.group(1).upper(), "custom")
    _custom_types[name] = t
    return t


SIM_PORTAL_ID = 12345678
FIRST_SCHEMA_ID = 1000001
SCHEMAS_SCOPES = ("crm.schemas.custom.read",)


# --------------------------------------------------------------------------------------------
# Property schemas (REFERENCE.md section 8)

GROUPS = {"contacts": "contactinformation", "companies": "companyinformation",
          "deals": "dealinformation", "tickets": "ticketinformation"}
DEFAULT_FIELD_TYPE = {"string": "text", "number": "number", "bool": "booleancheckbox",
                      "enumeration": "select", "date": "date", "datetime": "date",
                      "phone_number": "phonenumber"}
BOOL_OPTIONS = [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}]
AUTO_PROPS = ("hs_object_id", "createdate", "lastmodifieddate")
SIM_EPOCH = "2024-01-01T00:00:00.000Z"


def _opts(*pairs):
    return [{"label": label, "value": value, "displayOrder": i, "hidden": False, "description": ""}
            for i, (value, label) in enumerate(pairs)]


def _p(name, type_="string", field=None, options=None, unique=False, ro=False, hs=True, label=None):
    return {"name": name, "type": type_, "fieldType": field or DEFAULT_FIELD_TYPE[type_],
            "options": options or [], "hasUniqueValue": unique, "readOnlyValue": ro,
            "hubspotDefined": hs, "label": label}


def _auto():
    return [_p("hs_object_id", "number", ro=True, label="Record ID"),
            _p("createdate", "datetime", ro=True, label="Create Date"),
            _p("lastmodifieddate", "datetime", ro=True, label="Last Modified Date")]


DEFAULT_SCHEMAS = {
    "contacts": [
        _p("email", label="Email"), _p("firstname", label="First Name"),
        _p("lastname", label="Last Name"), _p("phone", field="phonenumber", label="Phone Number"),
        _p("company", label="Company Name"), _p("website", label="Website URL"),
        _p("city", label="City"),
        _p("lifecyclestage", "enumeration", "radio", _opts(
            ("subscriber", "Subscriber"), ("lead", "Lead"),
            ("marketingqualifiedlead", "Marketing Qualified Lead"),
            ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"),
            ("customer", "Customer"), ("evangelist", "Evangelist"), ("other", "Other")),
           label="Lifecycle Stage"),
        *_auto(),
        _p("lifetime_value", "number", hs=False), _p("is_vip", "bool", hs=False),
        _p("birthdate", "date", hs=False), _p("last_seen", "datetime", hs=False),
        _p("interests", "enumeration", "checkbox", _opts(("a", "A"), ("b", "B"), ("c", "C")),
           hs=False),
        _p("external_id", unique=True, hs=False),
    ],
    "companies": [
        _p("name", label="Company name"), _p("domain", label="Company Domain Name"),
        _p("industry", label="Industry"), _p("city", label="City"),
        _p("numberofemployees", "number", label="Number of Employees"),
        _p("annualrevenue", "number", label="Annual Revenue"),
        *_auto(),
        _p("company_code", unique=True, hs=False),
    ],
    "deals": [
        _p("dealname", label="Deal Name"),
        _p("dealstage", "enumeration", "radio", _opts(
            ("appointmentscheduled", "Appointment Scheduled"),
            ("qualifiedtobuy", "Qualified To Buy"),
            ("presentationscheduled", "Presentation Scheduled"),
            ("decisionmakerboughtin", "Decision Maker Bought-In"),
            ("contractsent", "Contract Sent"), ("closedwon", "Closed Won"),
            ("closedlost", "Closed Lost")), label="Deal Stage"),
        _p("pipeline", "enumeration", "select", _opts(("default", "Sales Pipeline")),
           label="Pipeline"),
        _p("amount", "number", label="Amount"), _p("closedate", "datetime", label="Close Date"),
        *_auto(),
        _p("deal_code", unique=True, hs=False),
    ],
    "tickets": [
        _p("subject", label="Ticket name"),
        _p("content", field="textarea", label="Ticket description"),
        _p("hs_pipeline", "enumeration", "select", _opts(("0", "Support Pipeline")),
           label="Pipeline"),
        _p("hs_pipeline_stage", "enumeration", "select", _opts(
            ("1", "New"), ("2", "Waiting on contact"), ("3", "Waiting on us"), ("4", "Closed")),
           label="Ticket status"),
        *_auto(),
        _p("ticket_code", unique=True, hs=False),
    ],
}

# Every other type has a closed schema too (unknown properties -> PROPERTY_DOESNT_EXIST): a few
# of HubSpot's own properties of the type, the auto properties and a unique, non-HubSpot
# "external_id" to upsert by.  These are the simulator's defaults, not HubSpot's full lists.


def _eng(*extra):
    """Engagement-like types: body/title texts and hs_timestamp."""
    return list(extra) + [_p("hs_timestamp", "datetime", label="Activity date")]


OTHER_SCHEMAS = {
    "products": [_p("name", label="Name"), _p("description", field="textarea", label="Description"),
                 _p("price", "number", label="Unit price"), _p("hs_sku", label="SKU"),
                 _p("hs_cost_of_goods_sold", "number", label="Unit cost")],
    "line_items": [_p("name", label="Name"), _p("quantity", "number", label="Quantity"),
                   _p("price", "number", label="Unit price"),
                   _p("amount", "number", ro=True, label="Net price"),
                   _p("hs_product_id", label="Product ID"), _p("hs_sku", label="SKU")],
    "quotes": [_p("hs_title", label="Quote name"),
               _p("hs_expiration_date", "date", label="Expiration date"),
               _p("hs_status", "enumeration", "select", _opts(
                   ("DRAFT", "Draft"), ("APPROVAL_NOT_NEEDED", "Approval not needed"),
                   ("PENDING_APPROVAL", "Pending approval"), ("APPROVED", "Approved"),
                   ("REJECTED", "Rejected")), label="Quote approval status"),
               _p("hs_currency", label="Currency")],
    "communications": _eng(_p("hs_communication_channel_type", "enumeration", "select",
                              _opts(("WHATS_APP", "WhatsApp"), ("LINKEDIN_MESSAGE", "LinkedIn"),
                                    ("SMS", "SMS")), label="Channel type"),
                           _p("hs_communication_body", field="textarea", label="Body")),
    "feedback_submissions": _eng(_p("hs_content", field="textarea", label="Response")),
    "tasks": _eng(_p("hs_task_subject", label="Task title"),
                  _p("hs_task_body", field="textarea", label="Notes"),
                  _p("hs_task_status", "enumeration", "select", _opts(
                      ("NOT_STARTED", "Not started"), ("IN_PROGRESS", "In progress"),
                      ("WAITING", "Waiting"), ("COMPLETED", "Completed"),
                      ("DEFERRED", "Deferred")), label="Task status"),
                  _p("hs_task_priority", "enumeration", "select", _opts(
                      ("NONE", "None"), ("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High")),
                     label="Priority")),
    "notes": _eng(_p("hs_note_body", field="textarea", label="Note body")),
    "meetings": _eng(_p("hs_meeting_title", label="Meeting name"),
                     _p("hs_meeting_body", field="textarea", label="Meeting description"),
                     _p("hs_meeting_start_time", "datetime", label="Start time"),
                     _p("hs_meeting_end_time", "datetime", label="End time")),
    "calls": _eng(_p("hs_call_title", label="Call title"),
                  _p("hs_call_body", field="textarea", label="Call notes"),
                  _p("hs_call_duration", "number", label="Call duration"),
                  _p("hs_call_direction", "enumeration", "select", _opts(
                      ("INBOUND", "Inbound"), ("OUTBOUND", "Outbound")), label="Call direction")),
    "emails": _eng(_p("hs_email_subject", label="Email subject"),
                   _p("hs_email_text", field="textarea", label="Email body"),
                   _p("hs_email_direction", "enumeration", "select", _opts(
                       ("EMAIL", "Sent by owner"), ("INCOMING_EMAIL", "Reply from contact"),
                       ("FORWARDED_EMAIL", "Forwarded")), label="Email direction"),
                   _p("hs_email_status", "enumeration", "select", _opts(
                       ("BOUNCED", "Bounced"), ("FAILED", "Failed"), ("SCHEDULED", "Scheduled"),
                       ("SENDING", "Sending"), ("SENT", "Sent")), label="Email send status")),
    "invoices": [_p("hs_currency", label="Currency"),
                 _p("hs_invoice_date", "date", label="Invoice date"),
                 _p("hs_due_date", "date", label="Due date"),
                 _p("hs_invoice_status", "enumeration", "select", _opts(
                     ("draft", "Draft"), ("open", "Open"), ("paid", "Paid"),
                     ("voided", "Voided")), label="Invoice status")],
    "subscriptions": [_p("hs_name", label="Name"),
                      _p("hs_status", "enumeration", "select", _opts(
                          ("active", "Active"), ("scheduled", "Scheduled"),
                          ("past_due", "Past due"), ("paused", "Paused"),
                          ("canceled", "Canceled"), ("expired", "Expired")), label="Status"),
                      _p("hs_recurring_billing_start_date", "date", label="Start date"),
                      _p("hs_next_payment_due_date", "date", label="Next payment due date"),
                      _p("hs_subscription_amount", "number", label="Amount")],
    "leads": [_p("hs_lead_name", label="Lead name"),
              _p("hs_lead_type", "enumeration", "select", _opts(
                  ("NEW_BUSINESS", "New Business"), ("UPSELL", "Upsell"),
                  ("RE_ATTEMPTING", "Re-attempting")), label="Lead type")],
}
# standard types not listed above get these
GENERIC_SCHEMA = [_p("hs_name", label="Name"),
                  _p("hs_description", field="textarea", label="Description")]
# custom objects (2-N, p_name, pNNN_name) unless /_sim/properties/{t} replaced it: a primary
# display "name", a few typed properties and a unique "external_id" (hubspotDefined false)
CUSTOM_SCHEMA = [
    _p("name", hs=False, label="Name"),
    _p("description", field="textarea", hs=False, label="Description"),
    _p("amount", "number", hs=False, label="Amount"),
    _p("status", "enumeration", "select", _opts(("active", "Active"), ("inactive", "Inactive")),
       hs=False, label="Status"),
    _p("start_date", "date", hs=False, label="Start date"),
]

DEFAULT_READ_PROPS = {
    "contacts": ("firstname", "lastname", "email"),
    "companies": ("name", "domain"),
    "deals": ("dealname", "amount", "closedate", "pipeline", "dealstage"),
    "tickets": ("subject", "content", "hs_pipeline", "hs_pipeline_stage"),
}


class Prop:
    __slots__ = ("name", "type", "field_type", "option_values", "option_set", "unique",
                 "readonly", "full", "is_email", "checkbox", "plain")

    def __init__(self, spec, index, type_key, is_contacts):
        name = spec["name"]
        self.name = name
        self.type = spec.get("type") or "string"
        self.field_type = spec.get("fieldType") or DEFAULT_FIELD_TYPE.get(self.type, "text")
        options = spec.get("options")
        if self.type == "bool" and not options:
            options = BOOL_OPTIONS
        options = options or []
        self.option_values = [str(o.get("value")) for o in options]
        self.option_set = frozenset(self.option_values)
        self.unique = bool(spec.get("hasUniqueValue"))
        mm = spec.get("modificationMetadata") or {}
        hs = bool(spec.get("hubspotDefined", False))
        self.readonly = bool(spec.get("readOnlyValue") or mm.get("readOnlyValue")
                             or spec.get("calculated"))
        self.is_email = is_contacts and name == "email"
        self.checkbox = self.type == "enumeration" and self.field_type == "checkbox"
        # plain text: only the length needs checking
        self.plain = self.type in ("string", "phone_number") and not self.is_email
        label = spec.get("label") or name.replace("_", " ").title()
        full = {
            "name": name, "label": label, "type": self.type, "fieldType": self.field_type,
            "description": spec.get("description", ""),
            "groupName": spec.get("groupName") or GROUPS.get(type_key, "%s_information" % type_key),
            "options": [dict({"label": str(o.get("label", o.get("value"))),
                              "value": str(o.get("value")),
                              "displayOrder": o.get("displayOrder", i),
                              "hidden": bool(o.get("hidden", False))},
                             **({"description": o["description"]} if "description" in o else {}))
                        for i, o in enumerate(options)],
            "displayOrder": spec.get("displayOrder", index),
            "calculated": bool(spec.get("calculated", False)),
            "externalOptions": bool(spec.get("externalOptions", False)),
            "hasUniqueValue": self.unique,
            "hidden": bool(spec.get("hidden", False)),
            "hubspotDefined": hs,
            "formField": bool(spec.get("formField", not self.readonly)),
            "dataSensitivity": spec.get("dataSensitivity", "non_sensitive"),
            "modificationMetadata": {
                "archivable": bool(mm.get("archivable", not hs)),
                "readOnlyDefinition": bool(mm.get("readOnlyDefinition", hs)),
                "readOnlyValue": self.readonly,
            },
            "createdAt": spec.get("createdAt", SIM_EPOCH),
            "updatedAt": spec.get("updatedAt", SIM_EPOCH),
            "archived": False,
        }
        if "readOnlyOptions" in mm:
            full["modificationMetadata"]["readOnlyOptions"] = bool(mm["readOnlyOptions"])
        for k in ("calculationFormula", "referencedObjectType", "showCurrencySymbol",
                  "numberDisplayHint", "textDisplayHint", "dateDisplayHint",
                  "currencyPropertyName", "sensitiveDataCategories"):
            if k in spec:
                full[k] = spec[k]
        self.full = full


class Schema:
    """Validation view of one object type's properties (closed: other names do not exist)."""

    def __init__(self, type_key, specs):
        is_contacts = type_key == "contacts"
        self.type_key = type_key
        self.props = {}
        for i, spec in enumerate(specs):
            p = Prop(spec, i, type_key, is_contacts)
            self.props[p.name] = p
        self.full_list = [p.full for p in self.props.values()]
        # properties usable as idProperty on upsert/read; unique indexes kept by the store
        self.unique = {n for n, p in self.props.items() if p.unique}
        self.key_props = set(self.unique)
        self.indexed = set(self.unique)
        if is_contacts:
            self.key_props.add("email")
            self.indexed.add("email")
        self.default_read = DEFAULT_READ_PROPS.get(type_key, ())

    def get(self, name):
        return self.props.get(name)


def default_specs(type_key):
    """The default property specs of a type key (canonical plural name, 2-N or p_name)."""
    specs = DEFAULT_SCHEMAS.get(type_key)
    if specs is not None:
        return specs
    if type_key in TYPES_BY_NAME:
        extra = OTHER_SCHEMAS.get(type_key, GENERIC_SCHEMA)
    else:
        extra = CUSTOM_SCHEMA
    return extra + _auto() + [_p("external_id", unique=True, hs=False, label="External ID")]


def build_schema(type_key, specs=None):
    return Schema(type_key, default_specs(type_key) if specs is None else specs)


# --------------------------------------------------------------------------------------------
# Value validation (REFERENCE.md sections 5.2, 8.3, 8.4)

RE_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
RE_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
RE_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
RE_EPOCH = re.compile(r"^-?\d{1,15}$")
RE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
                    r"(Z|[+-]\d{2}(?::?\d{2})?)?$")
UTC = dt.timezone.utc
EPOCH_DT = dt.datetime(1970, 1, 1, tzinfo=UTC)


class BadValue(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code
        self.message = message


def iso_from_dt(d):
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def iso_now(t=None):
    if t is None:
        t = time.time()
    ms = int(t * 1000)
    s, ms = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % ms


def parse_iso(v):
    """ISO 8601 string -> aware UTC datetime, or None."""
    m = RE_ISO.match(v)
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        res = dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                          micro, tzinfo=UTC)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        off = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        res = res - sign * off
    return res


def dt_from_ms(ms):
    try:
        return EPOCH_DT + dt.timedelta(milliseconds=ms)
    except OverflowError:
        return None


def to_epoch_ms(v):
    """A date/datetime value (stored ISO, filter epoch-ms or ISO) -> epoch ms, or None."""
    if RE_EPOCH.match(v):
        return int(v)
    d = parse_iso(v)
    if d is None:
        return None
    return int((d - EPOCH_DT) / dt.timedelta(milliseconds=1))


def check_value(prop, v):
    """Validate one property value (already a str).  Returns (normalized, append_flag)."""
    if v == "":
        return "", False
    t = prop.type
    if t == "string" or t == "phone_number":
        if len(v) > MAX_STRING:
            raise BadValue("INVALID_LENGTH",
                           'Property "%s" value is %d characters long; the maximum is %d'
                           % (prop.name, len(v), MAX_STRING))
        if prop.is_email:
            if not RE_EMAIL.match(v):
                raise BadValue("INVALID_EMAIL", "Email address %s is invalid" % v)
            return v.lower(), False
        return v, False
    if t == "number":
        if not RE_NUMBER.match(v):
            raise BadValue("INVALID_INTEGER", "%s was not a valid number." % v)
        return v, False
    if t == "enumeration":
        if prop.checkbox:
            append = v.startswith(";")
            parts = [x for x in v.split(";") if x]
            for x in parts:
                if x not in prop.option_set:
                    raise BadValue("INVALID_OPTION", "%s was not one of the allowed options: [%s]"
                                   % (x, ", ".join(prop.option_values)))
            return ";".join(parts), append
        if v not in prop.option_set:
            raise BadValue("INVALID_OPTION", "%s was not one of the allowed options: [%s]"
                           % (v, ", ".join(prop.option_values)))
        return v, False
    if t == "bool":
        low = v.lower()
        if low != "true" and low != "false":
            raise BadValue("INVALID_BOOLEAN", "%s was not a valid boolean." % v)
        return low, False
    if t == "date":
        m = RE_DATE.match(v)
        if m:
            try:
                dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                return v, False
            except ValueError:
                raise BadValue("INVALID_DATE", "%s was not a valid date." % v)
        if RE_EPOCH.match(v):
            d = dt_from_ms(int(v))
        else:
            d = parse_iso(v)
        if d is None:
            raise BadValue("INVALID_DATE", "%s was not a valid date." % v)
        if d.hour or d.minute or d.second or d.microsecond:
            raise BadValue("INVALID_DATE", "%s is at %d:%d:%d.%d UTC, not midnight!"
                           % (v, d.hour, d.minute, d.second, d.microsecond // 1000))
        return d.strftime("%Y-%m-%d"), False
    if t == "datetime":
        if RE_EPOCH.match(v):
            d = dt_from_ms(int(v))
        else:
            d = parse_iso(v)
        if d is None:
            raise BadValue("INVALID_DATE", "%s was not a valid datetime." % v)
        return iso_from_dt(d), False
    # json / object_coordinates / unknown types: accept as text
    return v, False


def validation_entry(code, message, name):
    return {"isValid": False, "message": message, "error": code, "name": name,
            "localizedErrorMessage": message}


def validation_message(entries):
    return "Property values were not valid: " + json.dumps(entries, separators=(",", ":"))


# --------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """An HTTP error answer.  body gets correlationId added when it has a 'status' of 'error'."""

    def __init__(self, status, message, category=None, headers=None, **extra):
        Exception.__init__(self, message)
        self.status = status
        body = {"status": "error", "message": message}
        if category is not None:
            body["category"] = category
        body.update(extra)
        self.body = body
        self.headers = headers or []


def validation_error(message, **extra):
    return ApiError(400, message, "VALIDATION_ERROR", **extra)


def _pos(raw, needle):
    """(line, column) of needle in the raw request text, for malformed-JSON messages."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    i = raw.find(needle) if needle else -1
    if i < 0:
        return 1, 1
    line = raw.count("\n", 0, i) + 1
    col = i - (raw.rfind("\n", 0, i) + 1) + 1
    return line, col


def malformed(raw, needle, detail):
    line, col = _pos(raw, needle)
    return ApiError(400, "Invalid input JSON on line %d, column %d: %s" % (line, col, detail))


JTOKEN = {dict: "START_OBJECT", list: "START_ARRAY", str: "VALUE_STRING", int: "VALUE_NUMBER_INT",
          float: "VALUE_NUMBER_FLOAT", bool: "VALUE_TRUE", type(None): "VALUE_NULL"}
JNAME = {dict: "Object", list: "Array", str: "String", int: "Integer", float: "Float",
         bool: "Boolean", type(None): "Null"}


def wrong_type(raw, needle, java_type, value):
    tp = type(value)
    tok = JTOKEN.get(tp, "VALUE_EMBEDDED_OBJECT")
    if tp is bool and not value:
        tok = "VALUE_FALSE"
    return malformed(raw, needle, "Cannot deserialize value of type `%s` from %s value (token "
                     "`JsonToken.%s`)" % (java_type, JNAME.get(tp, "Embedded"), tok))


# --------------------------------------------------------------------------------------------
# Associations (REFERENCE.md section 13)

ASSOC_CATEGORIES = ("HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK")
# HUBSPOT_DEFINED types per (from, to): (typeId, label or None = unlabelled, inverse typeId).
# The table of section 13; the reverse ids of subscriptions' types (296, 298, 300, 302) are the
# simulator's (section 13 gives only the subscription -> X direction).
_HS_ASSOC = [
    ("contacts", "companies", 279, None, 280), ("contacts", "companies", 1, "Primary", 2),
    ("deals", "companies", 341, None, 342), ("deals", "companies", 5, "Primary", 6),
    ("deals", "contacts", 3, None, 4),
    ("tickets", "companies", 339, None, 340), ("tickets", "companies", 26, "Primary", 25),
    ("tickets", "contacts", 16, None, 15),
    ("deals", "tickets", 27, None, 28),
    ("deals", "line_items", 19, None, 20),
    ("companies", "companies", 450, None, 450),
    ("companies", "companies", 13, "Parent Company", 14),
    ("contacts", "contacts", 449, None, 449), ("deals", "deals", 451, None, 451),
    ("tickets", "tickets", 452, None, 452),
    ("subscriptions", "contacts", 295, None, 296), ("subscriptions", "companies", 297, None, 298),
    ("subscriptions", "deals", 299, None, 300), ("subscriptions", "line_items", 301, None, 302),
]
HS_ASSOC = {}        # (from key, to key) -> {typeId: (label, inverse typeId)}
for _f, _t, _id, _lab, _inv in _HS_ASSOC:
    HS_ASSOC.setdefault((_f, _t), {})[_id] = (_lab, _inv)
    _rlab = "Child Company" if _id == 13 else _lab
    HS_ASSOC.setdefault((_t, _f), {})[_inv] = (_rlab, _id)
FIRST_LABEL_ID = 1001          # user-defined label type ids start here (step 1 or 2)
ASSOC_MAX = {"create": 2000, "default": 2000, "archive": 2000, "labels_archive": 2000,
             "read": 1000}
ASSOC_READ_PAGE = 500          # `to` entries per input in one batch/read answer
ASSOC_OPS = {("batch", "create"): "create", ("batch", "associate", "default"): "default",
             ("batch", "read"): "read", ("batch", "archive"): "archive",
             ("batch", "labels", "archive"): "labels_archive"}
JAVA_ASSOC = "com.hubspot.crm.associations.v4.public."
JAVA_ASSOC_INPUT = {
    "create": JAVA_ASSOC + "PublicAssociationMultiPost",
    "labels_archive": JAVA_ASSOC + "PublicAssociationMultiPost",
    "default": JAVA_ASSOC + "PublicDefaultAssociationMultiPost",
    "read": JAVA_ASSOC + "PublicFetchAssociationsBatchRequest",
    "archive": JAVA_ASSOC + "PublicAssociationMultiArchive",
}
ASSOC_INPUT_FIELDS = {"create": {"from", "to", "types"}, "labels_archive": {"from", "to", "types"},
                      "default": {"from", "to"}, "read": {"id", "after"},
                      "archive": {"from", "to"}}


class AssocType:
    """One association type of an ordered (from, to) pair of object types."""
    __slots__ = ("category", "type_id", "label", "name", "inverse")

    def __init__(self, category, type_id, label, name, inverse):
        self.category = category
        self.type_id = type_id
        self.label = label            # None = unlabelled
        self.name = name
        self.inverse = inverse        # (category, typeId) of the reverse direction

    @property
    def key(self):
        return (self.category, self.type_id)

    def view(self):
        return {"category": self.category, "typeId": self.type_id, "label": self.label}


def assoc_sort_key(t):
    """Labels/types order: unlabelled first, then HubSpot's labels, then the others, by id."""
    return (t.label is not None, t.category != "HUBSPOT_DEFINED", t.category, t.type_id)


def assoc_after(tid):
    """Opaque paging cursor of batch/read (the last toObjectId of the page)."""
    return base64.urlsafe_b64encode(("assoc:%d" % tid).encode()).decode().rstrip("=")


def parse_assoc_after(s):
    try:
        raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode()
        if raw.startswith("assoc:") and raw[6:].isdigit():
            return int(raw[6:])
    except (ValueError, UnicodeDecodeError):
        pass
    return None


# --------------------------------------------------------------------------------------------
# Store


class Rec:
    __slots__ = ("id", "sid", "props", "created", "updated", "archived", "archived_at")

    def __init__(self, rid, now):
        self.id = rid
        self.sid = str(rid)
        self.props = {"hs_object_id": self.sid, "createdate": now, "lastmodifieddate": now}
        self.created = now
        self.updated = now
        self.archived = False
        self.archived_at = None


class TypeStore:
    def __init__(self, schema):
        self.records = {}      # int id -> Rec
        self.ids = []          # sorted ids (append-only, ids grow)
        self.uidx = {}         # prop -> {normalized value -> Rec} for live records
        self.reindex(schema)

    def reindex(self, schema):
        self.uidx = {name: {} for name in schema.indexed}
        for rec in self.records.values():
            if rec.archived:
                continue
            for name, idx in self.uidx.items():
                v = rec.props.get(name)
                if v:
                    idx[v.lower() if name == "email" else v] = rec


def norm_key(name, value):
    return value.lower() if name == "email" else value


class Inp:
    """One normalized batch input."""
    __slots__ = ("id", "id_prop", "props", "trace", "target", "key", "nprops", "err", "append")

    def __init__(self):
        self.append = None
        self.id = None
        self.id_prop = None
        self.props = None
        self.trace = None
        self.target = None
        self.key = None
        self.nprops = None
        self.err = None


WRITE_INPUT_FIELDS = {
    "upsert": {"id", "idProperty", "properties", "objectWriteTraceId"},
    "update": {"id", "idProperty", "properties", "objectWriteTraceId"},
    "create": {"properties", "associations", "objectWriteTraceId"},
}
JAVA_INPUT = {
    "upsert": "com.hubspot.inbounddb.publicobject.core.v2.SimplePublicObjectBatchInputUpsert",
    "update": "com.hubspot.inbounddb.publicobject.core.v2.SimplePublicObjectBatchInput",
    "create": "com.hubspot.inbounddb.publicobject.core.v2.SimplePublicObjectInputForCreate",
    "archive": "com.hubspot.inbounddb.publicobject.core.v2.SimplePublicObjectId",
    "read": "com.hubspot.inbounddb.publicobject.core.v2.SimplePublicObjectId",
}
JAVA_BATCH = "com.hubspot.inbounddb.publicobject.core.v2.BatchInput"


def str_field(raw, name, v):
    s = scalar_str(v)
    if s is None:
        raise wrong_type(raw, '"%s"' % name, "java.lang.String", v)
    return s


def scalar_str(v):
    """JSON scalar -> string as HubSpot's deserializer coerces it; None for non-scalars."""
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is float:
        return repr(v) if not v.is_integer() else str(int(v)) if abs(v) < 1e16 else repr(v)
    return None


# Fault options (see the module docstring).  A fault with any REPLACING option answers in
# HubSpot's place (the request is not performed unless "apply" is true); the others modify how
# the simulator answers the request it performs.
FAULT_REPLACING = ("status", "body", "drop", "garbage", "truncate", "truncate_at", "raw_body",
                   "empty_body", "nest_depth", "raw_number", "nul_string", "wrong_types",
                   "pad_bytes")
FAULT_MODIFYING = ("delay_ms", "headers", "envelope_status", "results", "result_trace_ids",
                   "error_context")
FAULT_ENVELOPE = ("envelope_status", "results", "result_trace_ids", "error_context")
FAULT_KEYS = set(FAULT_REPLACING + FAULT_MODIFYING) | {
    "count", "match", "apply", "content_type", "nest_kind", "number_field"}
ENVELOPE_STATUSES = ("PENDING", "PROCESSING", "CANCELED", "COMPLETE")
NUL_PLACES = ("properties", "id", "objectWriteTraceId", "message")
MAX_PAD = 512 * 1024 * 1024


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _flag(v):
    """JSON true/false or Perl-style 1/0 -> bool; None when neither."""
    if v is True or v is False:
        return v
    if _is_int(v) and v in (0, 1):
        return bool(v)
    return None


def check_fault(f):
    """Validated copy of a fault spec, with defaults filled in; raises ValueError."""
    if not isinstance(f, dict):
        raise ValueError("fault must be a JSON object")
    bad = set(f) - FAULT_KEYS
    if bad:
        raise ValueError("unknown fault keys: %s" % ", ".join(sorted(bad)))
    fault = dict(f)
    fault.setdefault("count", 1)
    if not _is_int(fault["count"]):
        raise ValueError("count must be an integer (negative = until cleared)")
    if "match" in fault and not isinstance(fault["match"], str):
        raise ValueError("match must be a string")
    for k in ("drop", "garbage", "truncate", "empty_body", "apply"):
        if k in fault:
            b = _flag(fault[k])
            if b is None:
                raise ValueError("%s must be true or false" % k)
            fault[k] = b
    if "status" in fault and (not _is_int(fault["status"]) or not 100 <= fault["status"] <= 599):
        raise ValueError("status must be an integer HTTP status (100-599)")
    if "delay_ms" in fault and (not isinstance(fault["delay_ms"], (int, float))
                                or isinstance(fault["delay_ms"], bool) or fault["delay_ms"] < 0):
        raise ValueError("delay_ms must be a number >= 0")
    h = fault.get("headers")
    if h is not None:
        if not isinstance(h, dict) or not all(
                isinstance(v, (str, int, float)) and not isinstance(v, bool) or v is None
                for v in h.values()):
            raise ValueError("headers must be an object of name: string | number | null")
        for k in h:
            if not k or any(c in k for c in ":\r\n ") or any(
                    c in str(h[k]) for c in "\r\n"):
                raise ValueError("headers: invalid header %r" % k)
    for k, lo, hi in (("truncate_at", 0, None), ("nest_depth", 1, 10 ** 7),
                      ("pad_bytes", 0, MAX_PAD)):
        if k in fault:
            v = fault[k]
            if not _is_int(v) or v < lo or (hi is not None and v > hi):
                raise ValueError("%s must be an integer %d..%s" % (k, lo, hi or ""))
    for k in ("raw_body", "raw_number", "number_field", "match"):
        if k in fault and not isinstance(fault[k], str):
            raise ValueError("%s must be a string" % k)
    if "raw_number" in fault and not fault["raw_number"]:
        raise ValueError("raw_number must be a non-empty string (e.g. \"1e1000000\")")
    if "content_type" in fault and fault["content_type"] is not None \
            and not isinstance(fault["content_type"], str):
        raise ValueError("content_type must be a string or null")
    if fault.get("nest_kind", "mixed") not in ("mixed", "array", "object"):
        raise ValueError('nest_kind must be "mixed", "array" or "object"')
    if "nul_string" in fault:
        v = fault["nul_string"]
        if _flag(v) is True:
            v = "properties"
        if v not in NUL_PLACES:
            raise ValueError("nul_string must be true or one of %s" % ", ".join(NUL_PLACES))
        fault["nul_string"] = v
    if "wrong_types" in fault:
        v = fault["wrong_types"]
        if _flag(v) is True:
            v = "error"
        if v not in ("error", "batch"):
            raise ValueError('wrong_types must be true, "error" or "batch"')
        fault["wrong_types"] = v
    if "envelope_status" in fault and fault["envelope_status"] not in ENVELOPE_STATUSES:
        raise ValueError("envelope_status must be one of %s" % ", ".join(ENVELOPE_STATUSES))
    if "results" in fault:
        v = fault["results"]
        b = _flag(v)
        if b is None and v != "omit":
            raise ValueError('results must be true, false or "omit"')
        fault["results"] = v if b is None else b
    for k in ("result_trace_ids", "error_context"):
        if k in fault and fault[k] not in CONFIG_CHOICES[k]:
            raise ValueError("%s must be one of %s" % (k, ", ".join(CONFIG_CHOICES[k])))
    exclusive = [k for k in ("raw_body", "empty_body", "garbage") if fault.get(k) or
                 (k == "raw_body" and k in fault)]
    if len(exclusive) > 1 or (exclusive and any(
            k in fault for k in ("body", "nest_depth", "raw_number", "nul_string",
                                 "wrong_types"))):
        raise ValueError("raw_body, empty_body and garbage replace the whole body: use one, "
                         "without body, nest_depth, raw_number, nul_string or wrong_types")
    if "body" in fault and "wrong_types" in fault:
        raise ValueError("body and wrong_types both give the body: use one")
    replacing = [k for k in FAULT_REPLACING if k in fault and fault[k] is not False]
    modifying = [k for k in FAULT_MODIFYING if k in fault]
    if fault.get("apply") and not replacing:
        raise ValueError("apply needs an answer to replace the real one with (%s)"
                         % ", ".join(FAULT_REPLACING))
    if not replacing and not modifying:
        raise ValueError("fault needs one of: %s" % ", ".join(FAULT_REPLACING + FAULT_MODIFYING))
    fault["_replace"] = bool(replacing)
    fault["_envelope_only"] = any(k in fault for k in FAULT_ENVELOPE)
    return fault


class Sim:
    def __init__(self, quiet=True):
        self.quiet = quiet
        self.lock = threading.Lock()        # objects and schemas
        self.meta = threading.Lock()        # log, stats, faults, rate counters, config
        self._id_counter = None
        self._sink_counter = itertools.count(10 ** 9)
        self._rng = random.Random(20261123)
        self.reset()

    # ---------------------------------------------------------------- state
    def reset(self):
        with self.lock, self.meta:
            self.config = dict(DEFAULT_CONFIG)
            self.tokens = {}
            self._set_tokens(DEFAULT_TOKENS)
            self.schemas = {}
            self.stores = {}
            self.custom = {}          # objectTypeId -> custom object schema (GET /crm/v3/schemas)
            self.custom_alias = {}    # 2-N, p_name, p{portal}_name -> ObjType
            self.next_id = FIRST_ID
            self.assoc = {}           # (from key, to key) -> {from id: {to id: {types}}}
            self.assoc_defs = {}      # (from key, to key) -> {(category, typeId): AssocType}
            self.next_label_id = FIRST_LABEL_ID
            self.faults = []
            self.log = deque()
            self.seq = 0
            self.window = {}          # token -> deque of monotonic times
            self.search_window = {}
            self.daily = {}
            self._reset_stats()

    def _reset_stats(self):
        self.stats = {"calls": 0, "by_status": {}, "inputs": 0, "rate_limited": 0,
                      "max_in_flight": 0, "first_t": None, "last_t": None}
        self.in_flight = 0

    def _set_tokens(self, mapping):
        for tok, scopes in mapping.items():
            if scopes is None:
                self.tokens.pop(tok, None)
                continue
            if scopes == "all":
                self.tokens[tok] = ("all", None, None, "all")
                continue
            if isinstance(scopes, str):
                scopes = [scopes]
            if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
                raise ValueError("tokens: value must be \"all\", a list of scopes or null")
            exact = frozenset(s for s in scopes if "*" not in s)
            pats = [re.compile("^" + re.escape(s).replace(r"\*", "[^.]+") + "$")
                    for s in scopes if "*" in s]
            self.tokens[tok] = ("some", exact, pats, list(scopes))

    def token_has(self, tok_entry, accepted):
        kind, exact, pats, _ = tok_entry
        if kind == "all":
            return True
        for s in accepted:
            if s in exact:
                return True
            for p in pats:
                if p.match(s):
                    return True
        return False

    def resolve(self, name):
        """Object type from a path segment: registered custom objects first."""
        t = self.custom_alias.get(name) or self.custom_alias.get(name.lower())
        return t if t is not None else resolve_type(name)

    def add_custom_schema(self, body):
        """Register a custom object (REFERENCE.md section 7, schema fields of S-SCH-v3)."""
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) \
                or not re.match(r"^[a-z][a-z0-9_]*$", body["name"]):
            raise ValueError("body needs a name (lower case letters, digits, _)")
        if not isinstance(body.get("properties", []), list):
            raise ValueError("properties must be a list")
        name = body["name"]
        with self.lock:
            if any(c["name"] == name for c in self.custom.values()):
                raise ValueError("a custom object named %s exists" % name)
            type_id = body.get("objectTypeId")
            if type_id is None:
                type_id = "2-%d" % (FIRST_SCHEMA_ID + len(self.custom))
            if not isinstance(type_id, str) or not RE_CUSTOM_ID.match(type_id) \
                    or type_id in self.custom:
                raise ValueError("objectTypeId must be a new 2-N")
        ot = ObjType(type_id, type_id, name.upper(), "custom")
        props = list(body.get("properties", []))
        if not any(p.get("hasUniqueValue") for p in props if isinstance(p, dict)):
            props.append(_p("external_id", unique=True, hs=False, label="External ID"))
        self.set_schema(ot, {"properties": [dict({"hubspotDefined": False}, **p)
                                            if isinstance(p, dict) else p for p in props]})
        now = iso_now()
        labels = body.get("labels") or {"singular": name.replace("_", " ").title(),
                                        "plural": name.replace("_", " ").title() + "s"}
        with self.lock:
            self.custom[type_id] = {
                "id": type_id[2:], "objectTypeId": type_id,
                "fullyQualifiedName": "p%d_%s" % (SIM_PORTAL_ID, name), "name": name,
                "labels": labels,
                "primaryDisplayProperty": body.get("primaryDisplayProperty"),
                "secondaryDisplayProperties": body.get("secondaryDisplayProperties", []),
                "requiredProperties": body.get("requiredProperties", []),
                "searchableProperties": body.get("searchableProperties", []),
                "associations": [], "metaType": "PORTAL_SPECIFIC", "archived": False,
                "createdAt": now, "updatedAt": now,
            }
            for alias in (type_id, "p_" + name, "p%d_%s" % (SIM_PORTAL_ID, name)):
                self.custom_alias[alias] = ot
        return self.custom_schema(type_id)

    def custom_schema(self, type_id):
        out = dict(self.custom[type_id])
        out["properties"] = self.schema_for(type_id).full_list
        return out

    def custom_schemas(self, name):
        """GET /crm/v3/schemas[/{objectType}]: all custom objects, or one by id or name."""
        if name is None:
            return 200, {"results": [self.custom_schema(t) for t in sorted(self.custom)]}
        ot = self.custom_alias.get(name) or self.custom_alias.get(name.lower())
        if ot is None:
            raise ApiError(404, "Unable to find object type %s" % name, "OBJECT_NOT_FOUND")
        return 200, self.custom_schema(ot.key)

    def schema_for(self, key):
        s = self.schemas.get(key)
        if s is None:
            s = build_schema(key)
            self.schemas[key] = s
        return s

    def store_for(self, key, schema):
        st = self.stores.get(key)
        if st is None:
            st = TypeStore(schema)
            self.stores[key] = st
        return st

    def update_config(self, upd):
        if not isinstance(upd, dict):
            raise ValueError("config body must be a JSON object")
        with self.meta:
            for k, v in upd.items():
                if k == "tokens":
                    if not isinstance(v, dict):
                        raise ValueError("tokens must be an object")
                    self._set_tokens(v)
                elif k not in DEFAULT_CONFIG:
                    raise ValueError("unknown config key: %s" % k)
                elif k in CONFIG_CHOICES and v not in CONFIG_CHOICES[k]:
                    raise ValueError("%s must be one of %s"
                                     % (k, ", ".join('"%s"' % c for c in CONFIG_CHOICES[k])))
                elif k == "shuffle_results" and v not in (True, False, "random", "reverse"):
                    raise ValueError("shuffle_results must be true, false or \"reverse\"")
                elif k in ("rate_limit_max", "rate_limit_interval_ms", "daily_limit",
                           "latency_ms", "search_rate_limit", "log_limit", "max_url_length") \
                        and (not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0):
                    raise ValueError("%s must be a number >= 0" % k)
                elif k == "retry_after_on_429" and v is not None \
                        and (not isinstance(v, (int, float)) or isinstance(v, bool)):
                    raise ValueError("retry_after_on_429 must be null or seconds")
                else:
                    self.config[k] = v
            return self.config_view()

    def config_view(self):
        c = dict(self.config)
        c["tokens"] = {t: e[3] for t, e in self.tokens.items()}
        return c

    # ---------------------------------------------------------------- faults
    def add_fault(self, f):
        fault = check_fault(f)
        with self.meta:
            self.faults.append(fault)
            return len(self.faults)

    def take_fault(self, path, envelope):
        """The first fault that applies to this request (its count used up), or None.

        envelope: the request is a batch upsert/update/create/read (answers with an envelope);
        faults with envelope options pass over other requests."""
        if not self.faults:
            return None
        with self.meta:
            for i, f in enumerate(self.faults):
                m = f.get("match")
                if m and m not in path:
                    continue
                if not envelope and f["_envelope_only"]:
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                    if f["count"] == 0:
                        del self.faults[i]
                return f
        return None

    # ---------------------------------------------------------------- rate limiting
    def rate_check(self, token, search):
        """Returns (error_or_None, headers)."""
        cfg = self.config
        now = time.monotonic()
        with self.meta:
            daily_limit = cfg["daily_limit"]
            used = self.daily.get(token, 0)
            if daily_limit and used >= daily_limit:
                err = ApiError(429, MSG_DAILY, errorType="RATE_LIMIT", policyName="DAILY")
                return err, ([] if search else self._rate_headers(token, now, used))
            if search:
                lim = cfg["search_rate_limit"]
                if lim:
                    w = self.search_window.get(token)
                    if w is None:
                        w = self.search_window[token] = deque()
                    while w and w[0] <= now - 1.0:
                        w.popleft()
                    if len(w) >= lim:
                        return ApiError(429, MSG_SECONDLY, errorType="RATE_LIMIT",
                                        policyName="SECONDLY"), []
                    w.append(now)
                self.daily[token] = used + 1
                return None, []
            w = self.window.get(token)
            if w is None:
                w = self.window[token] = deque()
            interval = cfg["rate_limit_interval_ms"] / 1000.0
            while w and w[0] <= now - interval:
                w.popleft()
            mx = cfg["rate_limit_max"]
            if mx and len(w) >= mx:
                return (ApiError(429, MSG_TEN_SECONDLY, errorType="RATE_LIMIT",
                                 policyName="TEN_SECONDLY_ROLLING"),
                        self._rate_headers(token, now, used))
            w.append(now)
            self.daily[token] = used + 1
            return None, self._rate_headers(token, now, used + 1)

    def _rate_headers(self, token, now, daily_used):
        cfg = self.config
        if not cfg["send_rate_headers"]:
            return []
        mx = cfg["rate_limit_max"] or UNLIMITED_REPORTED_MAX
        n = len(self.window.get(token) or ())
        dl = cfg["daily_limit"] or UNLIMITED_REPORTED_DAILY
        return [("X-HubSpot-RateLimit-Max", str(int(mx))),
                ("X-HubSpot-RateLimit-Remaining", str(int(max(0, mx - n)))),
                ("X-HubSpot-RateLimit-Interval-Milliseconds",
                 str(int(cfg["rate_limit_interval_ms"]))),
                ("X-HubSpot-RateLimit-Daily", str(int(dl))),
                ("X-HubSpot-RateLimit-Daily-Remaining", str(int(max(0, dl - daily_used))))]

    # ---------------------------------------------------------------- log / stats
    def begin_call(self, t):
        with self.meta:
            self.in_flight += 1
            if self.in_flight > self.stats["max_in_flight"]:
                self.stats["max_in_flight"] = self.in_flight
            if self.stats["first_t"] is None:
                self.stats["first_t"] = t

    def end_call(self, ctx, status):
        """Record a finished call in the log and stats; done before its answer is sent."""
        ctx.logged = True
        t_end = time.time()
        cfg = self.config
        entry = {"method": ctx.method, "path": ctx.path, "query": ctx.query,
                 "ninputs": ctx.ninputs, "status": status, "t_start": ctx.t_start,
                 "t_end": t_end}
        if ctx.fault is not None:
            entry["fault"] = {k: v for k, v in ctx.fault.items()
                              if k[0] != "_" and k != "count"}
        if cfg["record_bodies"]:
            entry["headers"] = {k.lower(): v for k, v in ctx.h.headers.items()}
            if ctx.raw:
                body = ctx.body
                if body is None:
                    try:
                        body = json.loads(ctx.raw)
                    except ValueError:
                        body = ctx.raw.decode("utf-8", "replace")
                entry["body"] = body
        with self.meta:
            self.in_flight -= 1
            self.seq += 1
            entry["seq"] = self.seq
            self.log.append(entry)
            lim = cfg["log_limit"]
            while lim and len(self.log) > lim:
                self.log.popleft()
            st = self.stats
            st["calls"] += 1
            k = str(status)
            st["by_status"][k] = st["by_status"].get(k, 0) + 1
            if ctx.is_batch and ctx.ninputs:
                st["inputs"] += ctx.ninputs
            if status == 429:
                st["rate_limited"] += 1
            st["last_t"] = t_end

    # ---------------------------------------------------------------- result ordering
    def order(self, results):
        """Result order as HubSpot gives it: not the input order.  shuffle_results true: a
        random rotation, reversed (never the input order for 2+ results); "reverse": reversed;
        false: input order."""
        mode = self.config["shuffle_results"]
        n = len(results)
        if n < 2 or mode is False:
            return results
        if mode != "reverse" and n > 2:
            k = self._rng.randrange(n)
            results = results[k:] + results[:k]
        results.reverse()
        return results

    # ---------------------------------------------------------------- body parsing
    def parse_inputs(self, op, body, raw):
        """Shape check of a batch/read or batch/archive body -> [Inp] (only ids)."""
        strict = self.config["strict_fields"]
        if type(body) is not dict:
            raise wrong_type(raw, None, JAVA_BATCH, body)
        allowed_top = ({"inputs", "idProperty", "properties", "propertiesWithHistory"}
                       if op == "read" else {"inputs"})
        if strict:
            for k in body:
                if k not in allowed_top:
                    raise malformed(raw, '"%s"' % k, 'Unrecognized field "%s" (class %s), not '
                                    "marked as ignorable" % (k, JAVA_BATCH))
        inputs = body.get("inputs")
        if inputs is None:
            raise validation_error("Some required fields were not set: [inputs]")
        if type(inputs) is not list:
            raise wrong_type(raw, '"inputs"', "java.util.List<%s>" % JAVA_INPUT[op], inputs)
        java = JAVA_INPUT[op]
        out = []
        for item in inputs:
            if type(item) is not dict:
                raise wrong_type(raw, '"inputs"', java, item)
            if strict:
                for k in item:
                    if k != "id":
                        raise malformed(raw, '"%s"' % k, 'Unrecognized field "%s" (class %s), '
                                        "not marked as ignorable" % (k, java))
            inp = Inp()
            v = item.get("id")
            if v is not None:
                inp.id = v if type(v) is str else str_field(raw, "id", v)
            out.append(inp)
        return out

    # ---------------------------------------------------------------- batch writes
    def parse_write_inputs(self, op, body, raw, schema):
        """Shape check + per-input value validation of upsert/update/create inputs in one pass.

        Shape problems raise (whole request); value problems are kept on each input (.err)."""
        strict = self.config["strict_fields"]
        if type(body) is not dict:
            raise wrong_type(raw, None, JAVA_BATCH, body)
        if strict and not body.keys() <= {"inputs"}:
            k = next(k for k in body if k != "inputs")
            raise malformed(raw, '"%s"' % k, 'Unrecognized field "%s" (class %s), not marked as '
                            "ignorable" % (k, JAVA_BATCH))
        inputs = body.get("inputs")
        if inputs is None:
            raise validation_error("Some required fields were not set: [inputs]")
        if type(inputs) is not list:
            raise wrong_type(raw, '"inputs"', "java.util.List<%s>" % JAVA_INPUT[op], inputs)
        if len(inputs) > 100:
            raise validation_error(MSG_TOO_MANY)
        fields = WRITE_INPUT_FIELDS[op]
        java = JAVA_INPUT[op]
        known = schema.props
        get_prop = schema.get
        out = []
        for item in inputs:
            if type(item) is not dict:
                raise wrong_type(raw, '"inputs"', java, item)
            if not item.keys() <= fields:
                if strict:
                    k = next(k for k in item if k not in fields)
                    raise malformed(raw, '"%s"' % k, 'Unrecognized field "%s" (class %s), not '
                                    "marked as ignorable" % (k, java))
            inp = Inp()
            v = item.get("id")
            if v is not None:
                inp.id = v if type(v) is str else str_field(raw, "id", v)
            v = item.get("idProperty")
            if v is not None:
                inp.id_prop = v if type(v) is str else str_field(raw, "idProperty", v)
            v = item.get("objectWriteTraceId")
            if v is not None:
                inp.trace = v if type(v) is str else str_field(raw, "objectWriteTraceId", v)
            a = item.get("associations")
            if a is not None and type(a) is not list:
                raise wrong_type(raw, '"associations"', "java.util.List", a)
            props = item.get("properties")
            if props is not None:
                if type(props) is not dict:
                    raise wrong_type(raw, '"properties"', "java.util.Map<String,String>", props)
                inp.props = props
                nprops = {}
                errs = None
                for name, v in props.items():
                    if type(v) is not str:
                        if v is None:
                            v = ""
                        else:
                            v = scalar_str(v)
                            if v is None:
                                raise wrong_type(raw, '"%s"' % name, "java.lang.String",
                                                 props[name])
                    p = known.get(name) or get_prop(name)
                    if p is None:
                        e = ("PROPERTY_DOESNT_EXIST", 'Property "%s" does not exist' % name)
                    elif p.readonly:
                        e = ("READ_ONLY_VALUE",
                             '"%s" is a read only property; its value cannot be set.' % name)
                    elif p.plain and len(v) <= MAX_STRING:
                        nprops[name] = v
                        continue
                    else:
                        try:
                            val, append = check_value(p, v)
                            nprops[name] = val
                            if append:
                                if inp.append is None:
                                    inp.append = set()
                                inp.append.add(name)
                            continue
                        except BadValue as bv:
                            e = (bv.code, bv.message)
                    if errs is None:
                        errs = []
                    errs.append(validation_entry(e[0], e[1], name))
                if op == "upsert" and inp.id and inp.id_prop:
                    # the key becomes the idProperty's value on create: validate it too
                    kp = get_prop(inp.id_prop)
                    if kp is not None and not kp.plain:
                        try:
                            check_value(kp, inp.id)
                        except BadValue as bv:
                            if errs is None:
                                errs = []
                            errs.append(validation_entry(bv.code, bv.message, inp.id_prop))
                inp.nprops = nprops
                inp.err = errs
            out.append(inp)
        return out

    def batch_write(self, op, ot, body, raw, dated_200, dry=False):
        """dry: validate everything (whole-request errors still raise) but store nothing and
        answer an envelope without results (a fault's not-done envelope status)."""
        schema = self.schema_for(ot.key)
        if op == "archive":
            inputs = self.parse_inputs(op, body, raw)
        else:
            inputs = self.parse_write_inputs(op, body, raw, schema)
        n = len(inputs)
        if n == 0:
            raise validation_error("No inputs were provided. At least one input is required.")
        if n > 100:
            raise validation_error(MSG_TOO_MANY)

        # required fields (whole request)
        missing = set()
        for inp in inputs:
            if op != "archive" and inp.props is None:
                missing.add("properties")
            if op != "create" and not inp.id:
                missing.add("id")
            if op == "upsert" and not inp.id_prop:
                missing.add("idProperty")
        if missing:
            raise validation_error("Some required fields were not set: [%s]"
                                   % ", ".join(sorted(missing)))

        # idProperty must be a unique property (or email for contacts on upsert)
        if op == "upsert" or op == "update":
            allowed = schema.key_props if op == "upsert" else schema.unique
            for ip in {inp.id_prop for inp in inputs}:
                if ip is not None and ip not in allowed:
                    raise validation_error("Unable to perform update/upsert by non-unique %s "
                                           "property %s" % (ot.type_id, ip))

        # duplicate ids (whole request, with or without trace ids)
        if op != "create":
            seen = set()
            dups = []
            for inp in inputs:
                ip = inp.id_prop
                k = (ip, inp.id.lower() if ip == "email" else inp.id)
                inp.key = k
                if k in seen:
                    if k[1] not in dups:
                        dups.append(k[1])
                else:
                    seen.add(k)
            if dups:
                raise validation_error("Duplicate IDs found in batch input: [%s]. IDs must be "
                                       "unique" % ", ".join(dups), context={"ids": dups})

        if op == "archive":
            return self._archive(ot, schema, inputs)

        traces = {inp.trace for inp in inputs}
        traced = None not in traces and "" not in traces and len(traces) == n
        bad = [inp for inp in inputs if inp.err]
        if bad and not traced:
            raise self._validation_400(bad[0].err)

        now = iso_now()
        with self.lock:
            store = self.store_for(ot.key, schema)
            uidx = store.uidx
            not_found = []
            # resolve targets
            if op == "upsert":
                for inp in inputs:
                    rec = uidx[inp.id_prop].get(inp.key[1])
                    inp.target = rec
            elif op == "update":
                recs = store.records
                for inp in inputs:
                    if inp.err:
                        continue
                    if inp.id_prop:
                        rec = uidx[inp.id_prop].get(inp.key[1])
                    else:
                        rec = recs.get(int(inp.id)) if inp.id.isdigit() else None
                        if rec is not None and rec.archived:
                            rec = None
                    if rec is None:
                        not_found.append(inp)
                    inp.target = rec
            # unique-value conflicts (existing records and within this batch)
            if uidx:
                claims = {}
                for inp in inputs:
                    if inp.err or (op == "update" and inp.target is None):
                        continue
                    want = [(k, v) for k, v in inp.nprops.items() if v and k in uidx]
                    if op == "upsert" and inp.target is None and inp.id_prop not in inp.nprops:
                        want.append((inp.id_prop, inp.id))
                    for name, val in want:
                        nk = norm_key(name, val)
                        owner = uidx[name].get(nk)
                        other = claims.get((name, nk))
                        if (owner is not None and owner is not inp.target) or \
                                (other is not None and (other.target is None
                                                        or other.target is not inp.target)):
                            if op == "create" and name == "email":
                                raise ApiError(409, "Contact already exists. Existing ID: %s"
                                               % (owner.sid if owner is not None else ""),
                                               "CONFLICT")
                            holder = ("object %s" % owner.sid if owner is not None
                                      else "another input of this batch")
                            e = validation_entry(
                                "INVALID_UNIQUE_VALUE",
                                '%s is already used by %s; %s is a unique property'
                                % (val, holder, name), name)
                            inp.err = [e]
                            bad.append(inp)
                            break
                        claims[(name, nk)] = inp
                if bad and not traced:
                    raise self._validation_400(bad[0].err)
            if dry:
                return (201 if op == "create" else 200), {
                    "status": "COMPLETE", "results": [], "startedAt": now,
                    "completedAt": iso_now()}

            # apply
            results = []
            for inp in inputs:
                if inp.err or (op == "update" and inp.target is None):
                    continue
                rec = inp.target
                is_new = rec is None
                if is_new:
                    rec = Rec(self.next_id, now)
                    self.next_id += 1
                    store.records[rec.id] = rec
                    store.ids.append(rec.id)
                    if op == "upsert" and inp.id_prop not in inp.nprops:
                        inp.nprops[inp.id_prop] = inp.key[1]
                props = rec.props
                appends = inp.append
                for name, val in inp.nprops.items():
                    if appends is not None and name in appends:
                        cur = props.get(name)
                        if cur:
                            parts = cur.split(";")
                            parts += [x for x in val.split(";") if x not in parts]
                            val = ";".join(parts)
                    if name in uidx:
                        old = props.get(name)
                        idx = uidx[name]
                        if old:
                            ok = norm_key(name, old)
                            if idx.get(ok) is rec:
                                del idx[ok]
                        if val:
                            idx[norm_key(name, val)] = rec
                    props[name] = val
                rec.updated = now
                props["lastmodifieddate"] = now
                r = {"id": rec.sid, "properties": dict(props), "createdAt": rec.created,
                     "updatedAt": now, "archived": False}
                if op == "upsert":
                    r["new"] = is_new
                if inp.trace is not None:
                    r["objectWriteTraceId"] = inp.trace
                results.append(r)

        errors = []
        for inp in bad:
            errors.append({"status": "error", "category": "VALIDATION_ERROR",
                           "message": validation_message(inp.err),
                           "context": {"objectWriteTraceId": [inp.trace]}})
        if not_found:
            errors.append(self._not_found_error(ot, not_found, traced))
        status = 201 if op == "create" else 200
        return self._envelope(results, errors, status, dated_200, now)

    def _validation_400(self, entries):
        return validation_error(validation_message(entries),
                                errors=[{"message": e["message"], "code": e["error"],
                                         "context": {"propertyName": [e["name"]]}}
                                        for e in entries])

    def _not_found_error(self, ot, missing, traced):
        ctx = {"ids": [inp.id for inp in missing]}
        if traced:
            ctx["objectWriteTraceId"] = [inp.trace for inp in missing]
        return {"status": "error", "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some %s objects, they may be deleted or not exist. "
                           "Check that ids are valid." % ot.singular,
                "context": ctx}

    def _envelope(self, results, errors, status, dated_200, started):
        env = {"status": "COMPLETE", "results": self.order(results)}
        if errors:
            env["numErrors"] = len(errors)
            env["errors"] = errors
            if not dated_200:
                status = 207
        env["startedAt"] = started
        env["completedAt"] = iso_now()
        return status, env

    def _archive(self, ot, schema, inputs):
        now = iso_now()
        with self.lock:
            store = self.store_for(ot.key, schema)
            for inp in inputs:
                if not inp.id.isdigit():
                    continue
                rec = store.records.get(int(inp.id))
                if rec is None or rec.archived:
                    continue
                self._archive_rec(store, rec, now, ot.key)
        return 204, None

    def _archive_rec(self, store, rec, now, type_key=None):
        rec.archived = True
        rec.archived_at = now
        if type_key is not None:
            self._drop_assoc(type_key, rec.id)     # HubSpot removes an archived record's links
        for name, idx in store.uidx.items():
            v = rec.props.get(name)
            if v:
                k = norm_key(name, v)
                if idx.get(k) is rec:
                    del idx[k]

    # ---------------------------------------------------------------- reads
    def _select_props(self, schema, rec, wanted):
        """Properties of rec for a read: wanted (or the type's defaults) + the auto props."""
        src = rec.props
        out = {"createdate": src.get("createdate"), "hs_object_id": rec.sid,
               "lastmodifieddate": src.get("lastmodifieddate")}
        for name in (wanted if wanted else schema.default_read):
            if name in src:
                out[name] = src[name]
            elif name in schema.props:
                out[name] = None
        return out

    def _obj(self, schema, rec, wanted, history=None):
        r = {"id": rec.sid, "properties": self._select_props(schema, rec, wanted),
             "createdAt": rec.created, "updatedAt": rec.updated, "archived": rec.archived}
        if rec.archived:
            r["archivedAt"] = rec.archived_at
        if history:
            ph = {}
            for name in history:
                v = rec.props.get(name)
                if v is not None:
                    ph[name] = [{"value": v, "timestamp": rec.updated, "sourceType": "API",
                                 "sourceId": "hubspot_sim"}]
                elif name in schema.props:
                    ph[name] = []
            r["propertiesWithHistory"] = ph
        return r

    def batch_read(self, ot, body, raw, archived, dated_200):
        started = iso_now()
        inputs = self.parse_inputs("read", body, raw)
        n = len(inputs)
        schema = self.schema_for(ot.key)
        props = body.get("properties") or []
        hist = body.get("propertiesWithHistory") or []
        for name, v in (("properties", props), ("propertiesWithHistory", hist)):
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise wrong_type(raw, '"%s"' % name, "java.util.List<String>", v)
        id_prop = body.get("idProperty")
        if id_prop is not None and not isinstance(id_prop, str):
            raise wrong_type(raw, '"idProperty"', "java.lang.String", id_prop)
        if n == 0:
            raise validation_error("No inputs were provided. At least one input is required.")
        if hist and n > 50:
            raise validation_error(MSG_TOO_MANY_HIST)
        if n > 100:
            raise validation_error(MSG_TOO_MANY)
        if any(not inp.id for inp in inputs):
            raise validation_error("Some required fields were not set: [id]")
        if id_prop and id_prop != "hs_object_id" and id_prop not in schema.key_props:
            raise validation_error("Unable to perform update/upsert by non-unique %s property %s"
                                   % (ot.type_id, id_prop))
        if id_prop == "hs_object_id":
            id_prop = None
        seen = set()
        dups = []
        for inp in inputs:
            k = norm_key(id_prop, inp.id) if id_prop else inp.id
            inp.key = k
            if k in seen:
                if k not in dups:
                    dups.append(k)
            seen.add(k)
        if dups:
            raise validation_error("Duplicate IDs found in batch input: [%s]. IDs must be unique"
                                   % ", ".join(dups), context={"ids": dups})
        results = []
        missing = []
        with self.lock:
            store = self.store_for(ot.key, schema)
            for inp in inputs:
                rec = self._find(store, id_prop, inp.key, archived)
                if rec is None:
                    missing.append(inp)
                else:
                    results.append(self._obj(schema, rec, props, hist))
        errors = [self._not_found_error(ot, missing, False)] if missing else []
        return self._envelope(results, errors, 200, dated_200, started)

    def _find(self, store, id_prop, key, archived=False):
        if id_prop:
            if archived:
                for rec in store.records.values():
                    v = rec.props.get(id_prop)
                    if rec.archived and v and norm_key(id_prop, v) == key:
                        return rec
                return None
            idx = store.uidx.get(id_prop)
            return idx.get(key) if idx is not None else None
        rec = store.records.get(int(key)) if key.isdigit() else None
        if rec is None or rec.archived != archived:
            return None
        return rec

    def list_objects(self, ot, q, base_url):
        schema = self.schema_for(ot.key)
        limit = q_int(q, "limit", 10)
        if limit > 100:
            raise validation_error("limit must be at most 100")
        if limit < 1:
            raise validation_error("limit must be at least 1")
        after = q.get("after", [None])[-1]
        if after not in (None, "") and not after.isdigit():
            raise validation_error("Invalid after value: %s" % after)
        archived = q_bool(q, "archived")
        props = q_list(q, "properties")
        hist = q_list(q, "propertiesWithHistory")
        results = []
        nxt = None
        with self.lock:
            store = self.store_for(ot.key, schema)
            ids = store.ids
            i = bisect.bisect_left(ids, int(after)) if after else 0
            recs = store.records
            while i < len(ids):
                rec = recs[ids[i]]
                i += 1
                if rec.archived != archived:
                    continue
                if len(results) == limit:
                    nxt = rec.sid
                    break
                results.append(self._obj(schema, rec, props, hist))
        body = {"results": results}
        if nxt is not None:
            body["paging"] = {"next": {"after": nxt, "link": "%s?after=%s" % (base_url, nxt)}}
        return 200, body

    def get_object(self, ot, obj_id, q):
        schema = self.schema_for(ot.key)
        id_prop = q.get("idProperty", [None])[-1] or None
        if id_prop == "hs_object_id":
            id_prop = None
        if id_prop and id_prop not in schema.key_props:
            raise validation_error("Unable to perform update/upsert by non-unique %s property %s"
                                   % (ot.type_id, id_prop))
        archived = q_bool(q, "archived")
        with self.lock:
            store = self.store_for(ot.key, schema)
            rec = self._find(store, id_prop, norm_key(id_prop, obj_id) if id_prop else obj_id,
                             archived)
            if rec is None:
                raise ApiError(404, "Resource not found", "OBJECT_NOT_FOUND")
            return 200, self._obj(schema, rec, q_list(q, "properties"),
                                  q_list(q, "propertiesWithHistory"))

    # ---------------------------------------------------------------- single-object writes
    def create_one(self, ot, body, raw, dated_200):
        if not isinstance(body, dict):
            raise wrong_type(raw, None, JAVA_INPUT["create"], body)
        st, env = self.batch_write("create", ot, {"inputs": [body]}, raw, dated_200)
        return 201, self._strip(env["results"][0])

    def update_one(self, ot, obj_id, body, raw, q):
        if not isinstance(body, dict):
            raise wrong_type(raw, None, JAVA_INPUT["update"], body)
        inp = {"id": obj_id, "properties": body.get("properties")}
        if self.config["strict_fields"]:
            for k in body:
                if k != "properties":
                    raise malformed(raw, '"%s"' % k, 'Unrecognized field "%s"' % k)
        id_prop = q.get("idProperty", [None])[-1]
        if id_prop and id_prop != "hs_object_id":
            inp["idProperty"] = id_prop
        st, env = self.batch_write("update", ot, {"inputs": [inp]}, raw, True)
        if not env["results"]:
            raise ApiError(404, "Resource not found", "OBJECT_NOT_FOUND")
        return 200, self._strip(env["results"][0])

    def delete_one(self, ot, obj_id):
        schema = self.schema_for(ot.key)
        with self.lock:
            store = self.store_for(ot.key, schema)
            rec = store.records.get(int(obj_id)) if obj_id.isdigit() else None
            if rec is not None and not rec.archived:
                self._archive_rec(store, rec, iso_now(), ot.key)
        return 204, None

    @staticmethod
    def _strip(r):
        r.pop("objectWriteTraceId", None)
        return r

    # ---------------------------------------------------------------- search
    def search(self, ot, body, raw):
        """POST .../search (REFERENCE.md section 9 with its corrections): <= 200 a page, <= 5
        filterGroups of <= 6 filters, <= 18 filters in all, a body of <= 3,000 characters, no
        paging past the 10,000th result, one sort, creation order by default, archived records
        never.  Values are case-insensitive except on enumeration properties; IN / NOT_IN on
        string properties need lowercase values (an uppercase value matches nothing)."""
        if not isinstance(body, dict):
            raise wrong_type(raw, None, "PublicObjectSearchRequest", body)
        nchars = len(raw.decode("utf-8", "replace")) if isinstance(raw, bytes) else len(raw)
        if nchars > SEARCH_MAX_BODY:
            raise validation_error("The search request is too long: %d characters. Search "
                                   "requests are limited to %d characters."
                                   % (nchars, SEARCH_MAX_BODY))
        schema = self.schema_for(ot.key)
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list):
            raise wrong_type(raw, '"filterGroups"', "java.util.List<FilterGroup>", groups)
        if len(groups) > 5:
            raise validation_error("Too many filter groups: %d. The maximum is 5." % len(groups))
        total_filters = 0
        compiled = []
        for g in groups:
            if not isinstance(g, dict):
                raise wrong_type(raw, '"filterGroups"', "FilterGroup", g)
            fl = g.get("filters") or []
            if not isinstance(fl, list):
                raise wrong_type(raw, '"filters"', "java.util.List<Filter>", fl)
            if len(fl) > 6:
                raise validation_error("Too many filters in a filter group: %d. The maximum is 6."
                                       % len(fl))
            total_filters += len(fl)
            compiled.append([self._compile_filter(schema, f, raw) for f in fl])
        if total_filters > 18:
            raise validation_error("Too many filters: %d. The maximum is 18 in total."
                                   % total_filters)
        query = body.get("query")
        if query is not None:
            if not isinstance(query, str):
                raise wrong_type(raw, '"query"', "java.lang.String", query)
        limit = body.get("limit", 10)
        if isinstance(limit, str) and limit.isdigit():
            limit = int(limit)
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise wrong_type(raw, '"limit"', "int", limit)
        if limit > 200:
            raise validation_error("limit must be at most 200")
        if limit < 0:
            raise validation_error("limit must be at least 0")
        after = body.get("after", 0)
        try:
            after = int(after or 0)
        except (TypeError, ValueError):
            raise validation_error("Invalid after value: %s" % after)
        if after + limit > 10000 or after >= 10000:
            raise validation_error("Search can return at most 10,000 results; paging beyond "
                                   "the 10,000th result is not allowed.")
        props = body.get("properties") or []
        if not isinstance(props, list):
            raise wrong_type(raw, '"properties"', "java.util.List<String>", props)
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list):
            raise wrong_type(raw, '"sorts"', "java.util.List<String>", sorts)
        if len(sorts) > 1:
            raise validation_error("Only one sort is allowed.")
        sort_name, desc = None, False
        if sorts:
            s = sorts[0]
            if isinstance(s, str):
                sort_name, desc = (s[1:], True) if s.startswith("-") else (s, False)
            elif isinstance(s, dict):
                sort_name = s.get("propertyName")
                desc = str(s.get("direction", "ASCENDING")).upper() == "DESCENDING"
            else:
                raise wrong_type(raw, '"sorts"', "Sort", s)
        qtokens = [t for t in re.split(r"\s+", query.lower()) if t] if query else []

        with self.lock:
            store = self.store_for(ot.key, schema)
            hits = []
            for rid in store.ids:
                rec = store.records[rid]
                if rec.archived:
                    continue
                p = rec.props
                if compiled and not any(all(f(p) for f in grp) for grp in compiled):
                    continue
                if qtokens:
                    text = " ".join(v for k, v in p.items() if v).lower()
                    if not all(t in text for t in qtokens):
                        continue
                hits.append(rec)
            if sort_name:
                sp = schema.get(sort_name)
                ptype = sp.type if sp else "string"
                present = [r for r in hits if r.props.get(sort_name)]
                absent = [r for r in hits if not r.props.get(sort_name)]
                present.sort(key=lambda r: (typed_key(ptype, r.props[sort_name]), r.id),
                             reverse=desc)
                hits = present + absent
            total = len(hits)
            page = hits[after:after + limit]
            results = [self._obj(schema, r, props) for r in page]
        out = {"total": total, "results": results}
        nxt = after + limit
        if nxt < min(total, 10000) and limit > 0:
            out["paging"] = {"next": {"after": str(nxt)}}
        return 200, out

    def _compile_filter(self, schema, f, raw):
        if not isinstance(f, dict):
            raise wrong_type(raw, '"filters"', "Filter", f)
        name = f.get("propertyName")
        op = f.get("operator", "EQ")
        if not isinstance(name, str) or not name:
            raise validation_error("Some required fields were not set: [propertyName]")
        sp = schema.get(name)
        ptype = sp.type if sp else "string"
        multi = sp is not None and sp.checkbox
        if name == "hs_object_id":
            ptype = "number"

        def val(key):
            v = f.get(key)
            s = scalar_str(v) if v is not None else None
            if s is None:
                raise validation_error("Filter on %s with operator %s needs a %s"
                                       % (name, op, key))
            k = typed_key(ptype, s)
            if k is None:
                raise validation_error("%s is not a valid value for property %s" % (s, name))
            return k

        def get(p):
            v = p.get(name)
            return v if v else None

        def values_of(v):
            if multi:
                return [typed_key(ptype, x) for x in v.split(";") if x]
            return [typed_key(ptype, v)]

        if op in ("EQ", "NEQ", "LT", "LTE", "GT", "GTE"):
            x = val("value")
            cmp = {"EQ": lambda a: a == x, "NEQ": lambda a: a != x, "LT": lambda a: a < x,
                   "LTE": lambda a: a <= x, "GT": lambda a: a > x, "GTE": lambda a: a >= x}[op]
            if op == "NEQ":
                return lambda p: get(p) is None or not any(
                    safe(cmp, a, True) is False for a in values_of(get(p)))
            return lambda p: get(p) is not None and any(
                safe(cmp, a, False) for a in values_of(get(p)))
        if op == "BETWEEN":
            lo, hi = val("value"), val("highValue")
            return lambda p: get(p) is not None and any(
                safe(lambda a: lo <= a <= hi, a, False) for a in values_of(get(p)))
        if op in ("IN", "NOT_IN"):
            vs = f.get("values")
            if not isinstance(vs, list) or not vs:
                raise validation_error("Filter on %s with operator %s needs values" % (name, op))
            keys = set()
            for v in vs:
                s = scalar_str(v)
                # string values must be lowercase: taken as given, they are compared with the
                # lowercased stored values, so an uppercase one matches nothing
                k = (s if ptype in ("string", "phone_number") else typed_key(ptype, s)) \
                    if s is not None else None
                if k is None:
                    raise validation_error("%s is not a valid value for property %s" % (v, name))
                keys.add(k)
            if op == "IN":
                return lambda p: get(p) is not None and any(a in keys for a in values_of(get(p)))
            return lambda p: get(p) is None or not any(a in keys for a in values_of(get(p)))
        if op == "HAS_PROPERTY":
            return lambda p: get(p) is not None
        if op == "NOT_HAS_PROPERTY":
            return lambda p: get(p) is None
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            v = f.get("value")
            s = scalar_str(v) if v is not None else None
            if not s:
                raise validation_error("Filter on %s with operator %s needs a value" % (name, op))
            enum = ptype == "enumeration"     # case-sensitive, as for every operator
            if not enum:
                s = s.lower()
            if "*" in s:
                rx = re.compile("^" + re.escape(s).replace(r"\*", ".*") + "$")
            else:
                rx = None

            def contains(p):
                v = get(p)
                if v is None:
                    return False
                low = v if enum else v.lower()
                toks = [t for t in re.split(r"[^0-9a-zA-Z@._+-]+", low) if t]
                toks.append(low)
                if rx is not None:
                    return any(rx.match(t) for t in toks)
                return s in toks or s in re.split(r"[^0-9a-zA-Z]+", low)
            if op == "CONTAINS_TOKEN":
                return contains
            return lambda p: not contains(p)
        raise validation_error("Unsupported filter operator: %s" % op)

    # ---------------------------------------------------------------- properties
    def properties(self, ot, name):
        schema = self.schema_for(ot.key)
        if name is None:
            return 200, {"results": schema.full_list}
        p = schema.props.get(name)
        if p is None:
            raise ApiError(404, "Unable to find property with name %s for object type %s"
                           % (name, ot.type_id), "OBJECT_NOT_FOUND")
        return 200, p.full

    def set_schema(self, ot, body):
        if not isinstance(body, dict) or not isinstance(body.get("properties"), list):
            raise ValueError('body must be {"properties": [Property, ...]}')
        specs = []
        for p in body["properties"]:
            if not isinstance(p, dict) or not isinstance(p.get("name"), str):
                raise ValueError("each property needs a name")
            t = p.get("type", "string")
            if t not in ("string", "number", "bool", "enumeration", "date", "datetime",
                         "phone_number", "json", "object_coordinates"):
                raise ValueError("property %s: unknown type %s" % (p["name"], t))
            specs.append(p)
        names = {p["name"] for p in specs}
        for auto in _auto():            # the auto-maintained properties always exist
            if auto["name"] not in names:
                specs.append(auto)
        schema = Schema(ot.key, specs)
        with self.lock:
            self.schemas[ot.key] = schema
            st = self.stores.get(ot.key)
            if st is not None:
                st.reindex(schema)
        return len(specs)

    # ---------------------------------------------------------------- associations
    # Stored both ways: assoc[(from key, to key)][from id][to id] = {(category, typeId)}; every
    # change of one direction is mirrored with the types' inverses, so an association is seen
    # from both sides.  Types are HS_ASSOC's (per ordered pair) plus user-defined labels.

    def assoc_defs_of(self, fk, tk):
        """{(category, typeId): AssocType} of the ordered pair (caller holds self.lock)."""
        d = self.assoc_defs.get((fk, tk))
        if d is None:
            d = {}
            for tid, (label, inv) in HS_ASSOC.get((fk, tk), {}).items():
                name = label.lower().replace(" ", "_") if label else None
                t = AssocType("HUBSPOT_DEFINED", tid, label, name, ("HUBSPOT_DEFINED", inv))
                d[t.key] = t
            self.assoc_defs[(fk, tk)] = d
        return d

    @staticmethod
    def _unlabelled(defs, hubspot_only=False):
        best = None
        for t in defs.values():
            if t.label is None and (not hubspot_only or t.category == "HUBSPOT_DEFINED"):
                if best is None or t.category == "HUBSPOT_DEFINED":
                    best = t
        return best

    def define_label(self, fot, tot, label, name=None, inverse_label=None, category="USER_DEFINED",
                     type_id=None, inverse_id=None):
        """A new association type of (fot, tot) and its inverse of (tot, fot).  label None:
        an unlabelled definition (what a custom object's association needs).  User-defined
        labels get one typeId per direction (N for from -> to, N + 1 for to -> from); between
        two records of one type the same id both ways (unless inverse_label differs)."""
        if category not in ASSOC_CATEGORIES or category == "HUBSPOT_DEFINED":
            raise validation_error("category must be USER_DEFINED, INTEGRATOR_DEFINED or WORK")
        fk, tk = fot.key, tot.key
        if name is None:
            name = label.lower().replace(" ", "_") if label is not None else None
        with self.lock:
            defs = self.assoc_defs_of(fk, tk)
            rdefs = self.assoc_defs_of(tk, fk)
            for t in defs.values():
                if label is not None and (t.label == label or (name and t.name == name)):
                    raise validation_error("An association label %s (name %s) already exists "
                                           "from %s to %s" % (label, name, fot.type_id,
                                                              tot.type_id))
                if label is None and t.label is None and t.category == category:
                    raise validation_error("An unlabelled %s association type already exists "
                                           "from %s to %s" % (category, fot.type_id, tot.type_id))
            same = fk == tk and (inverse_label is None or inverse_label == label)
            if type_id is None:
                type_id = self.next_label_id
                self.next_label_id += 1 if same else 2
            if inverse_id is None:
                inverse_id = type_id if same else type_id + 1
            for d, i in ((defs, type_id), (rdefs, inverse_id)):
                if (category, i) in d:
                    raise validation_error("Association type %s %d already exists" % (category, i))
            if same and inverse_id != type_id:
                raise validation_error("a label between records of one type without an "
                                       "inverseLabel has one typeId")
            t = AssocType(category, type_id, label, name, (category, inverse_id))
            defs[t.key] = t
            out = [t]
            if not same:
                rlabel = inverse_label if inverse_label is not None else label
                rname = (rlabel.lower().replace(" ", "_") if inverse_label is not None
                         else name) if rlabel is not None else None
                rt = AssocType(category, inverse_id, rlabel, rname, t.key)
                rdefs[rt.key] = rt
                if fk == tk:
                    out.append(rt)
            self.next_label_id = max(self.next_label_id, type_id + 1, inverse_id + 1)
            return [x.view() for x in out]

    def assoc_labels(self, fot, tot):
        with self.lock:
            defs = self.assoc_defs_of(fot.key, tot.key)
            return 200, {"results": [t.view() for t in sorted(defs.values(),
                                                                key=assoc_sort_key)]}

    def assoc_label_create(self, fot, tot, body, raw):
        if type(body) is not dict:
            raise wrong_type(raw, None, JAVA_ASSOC + "PublicAssociationDefinitionCreateRequest",
                             body)
        allowed = {"label", "name", "inverseLabel"}
        if self.config["strict_fields"]:
            for k in body:
                if k not in allowed:
                    raise malformed(raw, '"%s"' % k, 'Unrecognized field "%s" (class %s'
                                    'PublicAssociationDefinitionCreateRequest), not marked as '
                                    "ignorable" % (k, JAVA_ASSOC))
        missing = [k for k in ("label", "name") if body.get(k) in (None, "")]
        if missing:
            raise validation_error("Some required fields were not set: [%s]" % ", ".join(missing))
        vals = {k: str_field(raw, k, body[k]) for k in allowed if body.get(k) is not None}
        res = self.define_label(fot, tot, vals["label"], vals["name"], vals.get("inverseLabel"))
        return 200, {"results": res}

    def _assoc_set(self, fk, fid, tk, tid, want):
        """Make the types of from fid to tid exactly want (a set of keys), mirrored."""
        fwd = self.assoc.setdefault((fk, tk), {})
        rev = self.assoc.setdefault((tk, fk), {})
        cur = set(fwd.get(fid, {}).get(tid, ()))
        defs = self.assoc_defs_of(fk, tk)
        for k in cur - want:
            self._assoc_discard(fwd, fid, tid, k)
            self._assoc_discard(rev, tid, fid, defs[k].inverse)
        for k in want - cur:
            fwd.setdefault(fid, {}).setdefault(tid, set()).add(k)
            rev.setdefault(tid, {}).setdefault(fid, set()).add(defs[k].inverse)

    @staticmethod
    def _assoc_discard(d, a, b, k):
        tos = d.get(a)
        if not tos:
            return
        s = tos.get(b)
        if s is None:
            return
        s.discard(k)
        if not s:
            del tos[b]
            if not tos:
                del d[a]

    def _drop_assoc(self, type_key, rid):
        """An archived record's associations are gone (both directions)."""
        for (fk, tk), fwd in list(self.assoc.items()):
            if fk != type_key:
                continue
            tos = fwd.pop(rid, None)
            if not tos:
                continue
            rev = self.assoc.get((tk, fk))
            if rev is None:
                continue
            for tid in tos:
                s = rev.get(tid)
                if s:
                    s.pop(rid, None)
                    if not s:
                        del rev[tid]

    def _live(self, ot, sid):
        st = self.stores.get(ot.key)
        if st is None or not sid.isdigit():
            return None
        rec = st.records.get(int(sid))
        return None if rec is None or rec.archived else rec

    def _assoc_obj_id(self, raw, v, field, java):
        if type(v) is not dict:
            raise wrong_type(raw, '"%s"' % field, JAVA_ASSOC + "PublicObjectId", v)
        if self.config["strict_fields"]:
            for k in v:
                if k != "id":
                    raise malformed(raw, '"%s"' % k, 'Unrecognized field "%s" (class %s'
                                    'PublicObjectId), not marked as ignorable' % (k, JAVA_ASSOC))
        i = v.get("id")
        return None if i is None else (i if type(i) is str else str_field(raw, "id", i))

    def parse_assoc(self, op, body, raw):
        """Shape check of an associations batch body -> list of dicts with "from", "to"
        (archive: a list), "types" [(category, typeId)], or "id", "after" (read)."""
        strict = self.config["strict_fields"]
        java = JAVA_ASSOC_INPUT[op]
        if type(body) is not dict:
            raise wrong_type(raw, None, JAVA_ASSOC + "BatchInput", body)
        if strict:
            for k in body:
                if k != "inputs":
                    raise malformed(raw, '"%s"' % k, 'Unrecognized field "%s" (class %s'
                                    'BatchInput), not marked as ignorable' % (k, JAVA_ASSOC))
        inputs = body.get("inputs")
        if inputs is None:
            raise validation_error("Some required fields were not set: [inputs]")
        if type(inputs) is not list:
            raise wrong_type(raw, '"inputs"', "java.util.List<%s>" % java, inputs)
        fields = ASSOC_INPUT_FIELDS[op]
        missing = set()
        out = []
        for item in inputs:
            if type(item) is not dict:
                raise wrong_type(raw, '"inputs"', java, item)
            if strict:
                for k in item:
                    if k not in fields:
                        raise malformed(raw, '"%s"' % k, 'Unrecognized field "%s" (class %s), '
                                        "not marked as ignorable" % (k, java))
            inp = {}
            if op == "read":
                v = item.get("id")
                if v is None:
                    missing.add("id")
                else:
                    inp["id"] = v if type(v) is str else str_field(raw, "id", v)
                v = item.get("after")
                inp["after"] = None if v is None else str_field(raw, "after", v)
                out.append(inp)
                continue
            for side in ("from", "to"):
                v = item.get(side)
                if v is None:
                    missing.add(side)
                elif side == "to" and op == "archive":
                    if type(v) is not list:
                        raise wrong_type(raw, '"to"', "java.util.List<%sPublicObjectId>"
                                         % JAVA_ASSOC, v)
                    ids = []
                    for x in v:
                        i = self._assoc_obj_id(raw, x, "to", java)
                        if i is None:
                            missing.add("id")
                        ids.append(i)
                    inp["to"] = ids
                else:
                    i = self._assoc_obj_id(raw, v, side, java)
                    if i is None:
                        missing.add("id")
                    inp[side] = i
            if "types" in fields:
                v = item.get("types")
                if v is None:
                    missing.add("types")
                elif type(v) is not list:
                    raise wrong_type(raw, '"types"', "java.util.List<%sAssociationSpec>"
                                     % JAVA_ASSOC, v)
                else:
                    types = []
                    for ty in v:
                        if type(ty) is not dict:
                            raise wrong_type(raw, '"types"', JAVA_ASSOC + "AssociationSpec", ty)
                        if strict:
                            for k in ty:
                                if k not in ("associationCategory", "associationTypeId"):
                                    raise malformed(raw, '"%s"' % k, 'Unrecognized field "%s" '
                                                    "(class %sAssociationSpec), not marked as "
                                                    "ignorable" % (k, JAVA_ASSOC))
                        cat = ty.get("associationCategory")
                        tid = ty.get("associationTypeId")
                        if cat is None:
                            missing.add("associationCategory")
                        elif cat not in ASSOC_CATEGORIES:
                            if type(cat) is not str:
                                raise wrong_type(raw, '"associationCategory"', JAVA_ASSOC +
                                                 "AssociationCategory", cat)
                            raise malformed(raw, '"associationCategory"', "Cannot deserialize "
                                            "value of type `%sAssociationCategory` from String "
                                            "\"%s\": not one of the values accepted for Enum "
                                            "class: [%s]" % (JAVA_ASSOC, cat,
                                                             ", ".join(ASSOC_CATEGORIES)))
                        if tid is None:
                            missing.add("associationTypeId")
                        else:
                            if type(tid) is str and tid.isdigit():
                                tid = int(tid)
                            if not _is_int(tid):
                                raise wrong_type(raw, '"associationTypeId"', "int", tid)
                        types.append((cat, tid))
                    if not types:
                        missing.add("types")
                    inp["types"] = types
            out.append(inp)
        if missing:
            raise validation_error("Some required fields were not set: [%s]"
                                   % ", ".join(sorted(missing)))
        return out

    @staticmethod
    def _assoc_pair_ctx(inp):
        return {"fromObjectId": [inp["from"]], "toObjectId": [inp["to"]]}

    def _assoc_not_found(self, fot, tot, inp, reported):
        """Per-input errors for unknown or archived records of an input (each (side, id)
        once a batch); [] when both records are live."""
        errs = []
        for side, ot in (("from", fot), ("to", tot)):
            sid = inp[side]
            if self._live(ot, sid) is None:
                k = (side, sid)
                if k not in reported:
                    reported.add(k)
                    errs.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                                 "message": "Could not get %s object %s (the '%s' side of an "
                                 "association), it may be deleted or not exist. Check that ids "
                                 "are valid." % (ot.singular, sid, side),
                                 "context": {"%sObjectId" % side: [sid]}})
                elif not errs:
                    errs.append(None)      # reported already: still not done
        return errs

    def associations(self, op, fot, tot, body, raw, ver, dry=False):
        """POST .../associations/{from}/{to}/batch/{op} -> (status, body).  ver None = v4."""
        dated_200 = ver is not None and ver >= "2026-09"
        inputs = self.parse_assoc(op, body, raw)
        n = len(inputs)
        if n == 0:
            raise validation_error("No inputs were provided. At least one input is required.")
        mx = ASSOC_MAX[op]
        if n > mx:
            raise validation_error("The maximum number of inputs supported in a batch is %d. "
                                   "Please reduce the number of items and try again" % mx)
        fk, tk = fot.key, tot.key
        now = iso_now()
        # duplicates (whole request)
        if op in ("create", "labels_archive", "default"):
            seen = set()
            dups = []
            for inp in inputs:
                keys = ([(inp["from"], inp["to"], t) for t in inp["types"]]
                        if op != "default" else [(inp["from"], inp["to"], None)])
                for k in keys:
                    if k in seen:
                        if k not in dups:
                            dups.append(k)
                    else:
                        seen.add(k)
            if dups:
                txt = ", ".join("%s -> %s" % (f, t) + (" %s %s" % ty if ty else "")
                                for f, t, ty in dups)
                raise validation_error(
                    "Duplicate associations found in batch input: [%s]. Associations must be "
                    "unique" % txt,
                    context={"fromObjectId": [d[0] for d in dups],
                             "toObjectId": [d[1] for d in dups]})
        if self.config["mode"] == "sink":
            return self._assoc_sink(op, fot, tot, inputs, ver, now)

        if op == "read":
            return self._assoc_read(fot, tot, inputs, dated_200, now)
        errors = []
        results = []
        with self.lock:
            defs = self.assoc_defs_of(fk, tk)
            if op == "archive":
                if not dry:
                    for inp in inputs:
                        if not inp["from"].isdigit():
                            continue
                        for t in inp["to"]:
                            if t.isdigit():
                                self._assoc_set(fk, int(inp["from"]), tk, int(t), set())
                if ver is None:
                    return 204, None
                return self._envelope([], [], 200, dated_200, now)
            if op == "labels_archive":
                for inp in inputs:
                    for ty in inp["types"]:
                        if ty not in defs:
                            raise validation_error(
                                "Association type %s %s is not valid from %s to %s"
                                % (ty[0], ty[1], fot.type_id, tot.type_id),
                                context={"associationTypeId": [str(ty[1])]})
                if not dry:
                    fwd = self.assoc.get((fk, tk), {})
                    for inp in inputs:
                        if not (inp["from"].isdigit() and inp["to"].isdigit()):
                            continue
                        fid, tid = int(inp["from"]), int(inp["to"])
                        cur = set(fwd.get(fid, {}).get(tid, ()))
                        if not cur:
                            continue
                        gone = set(inp["types"])
                        if any(defs[k].label is None for k in gone):
                            cur = set()         # the unlabelled type takes every label
                        else:
                            cur -= gone
                        self._assoc_set(fk, fid, tk, tid, cur)
                if ver is None:
                    return 204, None
                return self._envelope([], [], 200, dated_200, now)
            reported = set()
            if op == "default":
                unl = self._unlabelled(defs, hubspot_only=True)
                for inp in inputs:
                    if unl is None:
                        errors.append({"status": "error", "category": "VALIDATION_ERROR",
                                       "message": "There is no default association type from "
                                       "%s to %s; create the association with a label (a "
                                       "user-defined association type)"
                                       % (fot.type_id, tot.type_id),
                                       "context": self._assoc_pair_ctx(inp)})
                        continue
                    errs = self._assoc_not_found(fot, tot, inp, reported)
                    if errs:
                        errors.extend(e for e in errs if e is not None)
                        continue
                    if not dry:
                        fid, tid = int(inp["from"]), int(inp["to"])
                        cur = set(self.assoc.get((fk, tk), {}).get(fid, {}).get(tid, ()))
                        self._assoc_set(fk, fid, tk, tid, cur | {unl.key})
                    results.append({"from": {"id": inp["from"]}, "to": {"id": inp["to"]},
                                    "associationSpec": {"associationCategory": unl.category,
                                                        "associationTypeId": unl.type_id}})
                return self._envelope(results if not dry else [], errors, 200, dated_200, now)
            # create: the pair's types become the given ones (the union of the batch's inputs
            # for that pair) plus the unlabelled type: other labels are removed
            unl = self._unlabelled(defs)
            pairs = {}
            for inp in inputs:
                bad = [ty for ty in inp["types"] if ty not in defs]
                if bad:
                    errors.append({"status": "error", "category": "VALIDATION_ERROR",
                                   "message": "Association type %s %s is not valid from %s to "
                                   "%s" % (bad[0][0], bad[0][1], fot.type_id, tot.type_id),
                                   "context": dict(self._assoc_pair_ctx(inp),
                                                   associationTypeId=[str(bad[0][1])])})
                    continue
                errs = self._assoc_not_found(fot, tot, inp, reported)
                if errs:
                    errors.extend(e for e in errs if e is not None)
                    continue
                pairs.setdefault((int(inp["from"]), int(inp["to"])), set()).update(inp["types"])
            for (fid, tid), keys in pairs.items():
                want = set(keys)
                if unl is not None:
                    want.add(unl.key)
                if not dry:
                    self._assoc_set(fk, fid, tk, tid, want)
                labels = [defs[k].label for k in sorted(want, key=lambda k: assoc_sort_key(
                    defs[k])) if defs[k].label is not None]
                results.append({"fromObjectTypeId": fot.type_id, "fromObjectId": fid,
                                "toObjectTypeId": tot.type_id, "toObjectId": tid,
                                "labels": labels})
        return self._envelope(results if not dry else [], errors,
                              200 if dated_200 else 201, dated_200, now)

    def assoc_view(self, fot, tot):
        """Control API: every association from fot to tot as [{from, to, types}], by ids."""
        with self.lock:
            defs = self.assoc_defs_of(fot.key, tot.key)
            fwd = self.assoc.get((fot.key, tot.key), {})
            return [{"from": str(f), "to": str(t),
                     "types": [defs[k].view() for k in sorted(
                         fwd[f][t], key=lambda k: assoc_sort_key(defs[k]))]}
                    for f in sorted(fwd) for t in sorted(fwd[f])]

    def _assoc_read(self, fot, tot, inputs, dated_200, now):
        results = []
        errors = []
        with self.lock:
            defs = self.assoc_defs_of(fot.key, tot.key)
            fwd = self.assoc.get((fot.key, tot.key), {})
            for inp in inputs:
                sid = inp["id"]
                tos = fwd.get(int(sid)) if sid.isdigit() else None
                if not tos:
                    errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                                   "message": "No %s is associated with %s %s."
                                   % (tot.singular.lower(), fot.singular.lower(), sid),
                                   "context": {"fromObjectId": [sid]}})
                    continue
                tids = sorted(tos)
                start = 0
                if inp["after"]:
                    a = parse_assoc_after(inp["after"])
                    if a is None:
                        raise validation_error("Invalid after value: %s" % inp["after"])
                    start = bisect.bisect_right(tids, a)
                page = tids[start:start + ASSOC_READ_PAGE]
                r = {"from": {"id": sid},
                     "to": [{"toObjectId": t, "associationTypes": [
                         defs[k].view() for k in sorted(tos[t], key=lambda k: assoc_sort_key(
                             defs[k]))]} for t in page]}
                if start + ASSOC_READ_PAGE < len(tids):
                    r["paging"] = {"next": {"after": assoc_after(page[-1])}}
                results.append(r)
        return self._envelope(results, errors, 200, dated_200, now)

    def _assoc_sink(self, op, fot, tot, inputs, ver, now):
        """Sink mode: answer as if every input succeeded, store nothing."""
        dated_200 = ver is not None and ver >= "2026-09"
        if op in ("archive", "labels_archive"):
            if ver is None:
                return 204, None
            return 200, {"status": "COMPLETE", "results": [], "startedAt": now,
                         "completedAt": now}
        results = []
        if op == "create":
            for inp in inputs:
                results.append({"fromObjectTypeId": fot.type_id,
                                "fromObjectId": int(inp["from"]) if inp["from"].isdigit()
                                else inp["from"], "toObjectTypeId": tot.type_id,
                                "toObjectId": int(inp["to"]) if inp["to"].isdigit()
                                else inp["to"], "labels": []})
        elif op == "default":
            unl = next((i for i, (lab, _) in HS_ASSOC.get((fot.key, tot.key), {}).items()
                        if lab is None), 0)
            for inp in inputs:
                results.append({"from": {"id": inp["from"]}, "to": {"id": inp["to"]},
                                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED",
                                                    "associationTypeId": unl}})
        status = 201 if op == "create" and not dated_200 else 200
        return status, {"status": "COMPLETE", "results": results, "startedAt": now,
                        "completedAt": now}

    # ---------------------------------------------------------------- sink mode
    def sink(self, op, body, raw):
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise wrong_type(raw, '"inputs"', JAVA_BATCH, body)
        if op == "archive":
            return 204, None
        now = iso_now()
        results = []
        cnt = self._sink_counter
        for inp in body["inputs"]:
            if not isinstance(inp, dict):
                continue
            if op in ("update", "read"):
                rid = str(inp.get("id"))
            else:
                rid = str(next(cnt))
            props = {"hs_object_id": rid}
            ip = inp.get("idProperty")
            if op == "upsert" and ip:
                v = str(inp.get("id"))
                props[ip] = v.lower() if ip == "email" else v
            r = {"id": rid, "properties": props, "createdAt": now, "updatedAt": now,
                 "archived": False}
            if op == "upsert":
                r["new"] = True
            t = inp.get("objectWriteTraceId")
            if t is not None:
                r["objectWriteTraceId"] = t
            results.append(r)
        return (201 if op == "create" else 200), {"status": "COMPLETE", "results": results,
                                                  "startedAt": now, "completedAt": now}


def typed_key(ptype, s):
    """Comparable key for a stored or filter value of a property type; None if not parseable.
    Enumeration values compare case-sensitively, other strings case-insensitively."""
    if ptype == "number":
        try:
            return float(s)
        except ValueError:
            return None
    if ptype in ("date", "datetime"):
        return to_epoch_ms(s)
    if ptype == "enumeration":
        return s
    return s.lower()


def safe(fn, a, default):
    if a is None:
        return default
    try:
        return fn(a)
    except TypeError:
        return default


def q_list(q, name):
    out = []
    for v in q.get(name, ()):
        out.extend(x for x in v.split(",") if x)
    return out


def q_int(q, name, default):
    v = q.get(name, [None])[-1]
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise validation_error("Invalid %s value: %s" % (name, v))


def q_bool(q, name):
    return q.get(name, ["false"])[-1].lower() == "true"


# --------------------------------------------------------------------------------------------
# HTTP layer

RE_OBJ = re.compile(r"^/crm/(?:v3/objects|objects/(\d{4}-\d{2}))/([^/]+)(?:/(.*))?$")
RE_PROPS = re.compile(r"^/crm/(?:v3/properties|properties/(\d{4}-\d{2}))/([^/]+)(?:/([^/]+))?$")
RE_SIM_TYPE = re.compile(r"^/_sim/(objects|properties)/([^/]+)$")
RE_ASSOC = re.compile(r"^/crm/(?:v4/associations|associations/(\d{4}-\d{2}))/([^/]+)/([^/]+)/(.+)$")
RE_SIM_ASSOC = re.compile(r"^/_sim/associations/([^/]+)/([^/]+)(/labels)?$")
RE_SCHEMAS = re.compile(r"^/crm(?:/v3|-object-schemas/v3)/schemas(?:/([^/]+))?$")
BATCH_OPS = ("upsert", "update", "create", "read", "archive")


RE_ENVELOPE = re.compile(r"/batch/(upsert|update|create|read)$")
RE_BATCH_OP = re.compile(r"/batch/([a-z]+)$")


class Ctx:
    __slots__ = ("h", "method", "path", "query", "raw", "body", "ninputs", "t_start",
                 "is_batch", "cid", "logged", "fault", "dry")


class Route:
    __slots__ = ("kind", "ver", "type_name", "arg", "search", "to_name")

    def __init__(self, kind, ver, type_name, arg=None, to_name=None):
        self.kind = kind
        self.ver = ver
        self.type_name = type_name
        self.arg = arg
        self.search = kind == "search"
        self.to_name = to_name      # associations: the "to" object type


def match_assoc_route(method, m):
    """/crm/v4/associations/{from}/{to}/... and /crm/associations/{YYYY-MM}/{from}/{to}/...
    -> Route("assoc", ver (None = v4), from, op, to); op: create, default, read, archive,
    labels_archive (POST batch/...), labels (GET labels), labels_create (POST labels)."""
    ver, f, t, rest = m.group(1), unquote(m.group(2)), unquote(m.group(3)), m.group(4)
    if ver is not None and ver < "2025-09":
        raise ApiError(404, "Resource not found", "OBJECT_NOT_FOUND")
    parts = tuple(unquote(x) for x in rest.split("/"))
    if parts == ("labels",):
        if method == "GET":
            return Route("assoc", ver, f, "labels", t)
        if method == "POST":
            return Route("assoc", ver, f, "labels_create", t)
        raise method_not_allowed(method, "GET, POST")
    op = ASSOC_OPS.get(parts)
    if op is None:
        raise ApiError(404, "Resource not found", "OBJECT_NOT_FOUND")
    if method != "POST":
        raise method_not_allowed(method, "POST")
    return Route("assoc", ver, f, op, t)


def match_route(method, path):
    """-> Route, or raises ApiError 404/405."""
    m = RE_ASSOC.match(path)
    if m:
        return match_assoc_route(method, m)
    m = RE_OBJ.match(path)
    if m:
        ver, t, rest = m.group(1), m.group(2), m.group(3)
        if ver is not None and ver < "2025-09":
            raise ApiError(404, "Resource not found", "OBJECT_NOT_FOUND")
        t = unquote(t)
        if rest is None or rest == "":
            if method == "GET":
                return Route("list", ver, t)
            if method == "POST":
                return Route("create_one", ver, t)
            raise method_not_allowed(method, "GET, POST")
        parts = [unquote(x) for x in rest.split("/")]
        if parts[0] == "batch" and len(parts) == 2:
            if parts[1] not in BATCH_OPS:
                raise ApiError(404, "Resource not found", "OBJECT_NOT_FOUND")
            if method != "POST":
                raise method_not_allowed(method, "POST")
            return Route("batch", ver, t, parts[1])
        if len(parts) == 1 and parts[0] == "search":
            if method != "POST":
                raise method_not_allowed(method, "POST")
            return Route("search", ver, t)
        if len(parts) == 1 and parts[0]:
            if method == "GET":
                return Route("get", ver, t, parts[0])
            if method == "PATCH":
                return Route("patch", ver, t, parts[0])
            if method == "DELETE":
                return Route("delete", ver, t, parts[0])
            raise method_not_allowed(method, "GET, PATCH, DELETE")
        raise ApiError(404, "Resource not found", "OBJECT_NOT_FOUND")
    m = RE_PROPS.match(path)
    if m:
        ver = m.group(1)
        if ver is not None and ver < "2025-09":
            raise ApiError(404, "Resource not found", "OBJECT_NOT_FOUND")
        if method != "GET":
            raise method_not_allowed(method, "GET")
        name = m.group(3)
        return Route("properties", ver, unquote(m.group(2)), unquote(name) if name else None)
    m = RE_SCHEMAS.match(path)
    if m:
        if method != "GET":
            raise method_not_allowed(method, "GET")
        return Route("schemas", None, None, unquote(m.group(1)) if m.group(1) else None)
    raise ApiError(404, "Resource not found", "OBJECT_NOT_FOUND")


def method_not_allowed(method, allow):
    return ApiError(405, "HTTP %s method not allowed for this resource" % method,
                    "VALIDATION_ERROR", headers=[("Allow", allow)])


def fault_body(status):
    if status == 429:
        return {"status": "error", "message": MSG_TEN_SECONDLY, "errorType": "RATE_LIMIT",
                "policyName": "TEN_SECONDLY_ROLLING"}
    if status == 423:
        return {"status": "error", "message": "The resource is locked. Locks last for 2 seconds; "
                "retry after at least 2 seconds.", "category": "LOCKED"}
    if status == 477:
        return {"status": "error", "message": "Migration in progress. Retry after the time given "
                "in the Retry-After header.", "category": "MIGRATION_IN_PROGRESS"}
    if status >= 500:
        return {"status": "error", "message": "internal error (simulated %d %s)"
                % (status, REASONS.get(status, "")), "category": "INTERNAL_ERROR"}
    cat = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES",
           404: "OBJECT_NOT_FOUND", 409: "CONFLICT"}.get(status)
    b = {"status": "error", "message": "simulated %d %s" % (status, REASONS.get(status, ""))}
    if cat:
        b["category"] = cat
    return b


GARBAGE = b"<html><body>502 Bad Gateway?</body></html>\x00{\"status\":"
PAGE_414 = ("<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n"
            "<center><h1>414 Request-URI Too Large</h1></center>\r\n<hr><center>cloudflare"
            "</center>\r\n</body>\r\n</html>\r\n").encode()
PAD_KEY = b'"x_sim_padding":"'


def retry_after_value(cfg, seconds):
    """Retry-After header value for a 429 in the configured format."""
    if cfg["retry_after_format"] == "http-date":
        return formatdate(math.ceil(time.time() + seconds), usegmt=True)
    return fmt_num(seconds)


def merge_headers(base, override):
    """base [(name, value)] with override {name: value | None}: same names (any case) replaced,
    None removes, new names appended."""
    if not override:
        return base
    names = {k.lower() for k in override}
    out = [(k, v) for k, v in base if k.lower() not in names]
    out.extend((k, fmt_num(v) if isinstance(v, (int, float)) else v)
               for k, v in override.items() if v is not None)
    return out


def shape_envelope(body, cfg, fault):
    """Apply result_trace_ids / error_context (config, or the fault's) and the fault's
    envelope_status / results to a batch envelope; other bodies are returned as they are."""
    if not isinstance(body, dict) or body.get("status") not in ENVELOPE_STATUSES \
            or not isinstance(body.get("results"), list):
        return body
    f = fault or {}
    rti = f.get("result_trace_ids", cfg["result_trace_ids"])
    ec = f.get("error_context", cfg["error_context"])
    es = f.get("envelope_status")
    res = f.get("results", True)
    if rti == "echo" and ec == "default" and es is None and res is True:
        return body
    body = dict(body)
    if rti == "omit":
        body["results"] = [{k: v for k, v in r.items() if k != "objectWriteTraceId"}
                           if isinstance(r, dict) else r for r in body["results"]]
    if ec != "default" and isinstance(body.get("errors"), list):
        errs = []
        for e in body["errors"]:
            if isinstance(e, dict):
                e = dict(e)
                if ec == "omit":
                    e.pop("context", None)
                elif ec == "empty":
                    e["context"] = {}
                elif isinstance(e.get("context"), dict):
                    e["context"] = {k: v for k, v in e["context"].items()
                                    if k != "objectWriteTraceId"}
            errs.append(e)
        body["errors"] = errs
    if es is not None:
        body["status"] = es
    if res is not True:
        body.pop("numErrors", None)
        body.pop("errors", None)
        if res is False:
            body["results"] = []
        else:
            del body["results"]
    return body


def _nul(s):
    return s[:1] + "\u0000" + s[1:]


def insert_nul(body, place):
    """A copy of body with a NUL character inside the strings that place names."""
    if not isinstance(body, dict):
        return body
    body = copy.deepcopy(body)
    if place == "message":
        if isinstance(body.get("message"), str):
            body["message"] = _nul(body["message"])
        for e in body.get("errors") or ():
            if isinstance(e, dict) and isinstance(e.get("message"), str):
                e["message"] = _nul(e["message"])
        return body
    targets = body.get("results") if isinstance(body.get("results"), list) else [body]
    for r in targets:
        if not isinstance(r, dict):
            continue
        if place == "properties":
            props = r.get("properties")
            if isinstance(props, dict):
                for k, v in props.items():
                    if isinstance(v, str) and v:
                        props[k] = _nul(v)
        elif isinstance(r.get(place), str):
            r[place] = _nul(r[place])
    return body


def wrong_types_error(cid):
    """An error body whose fields all have the wrong JSON type."""
    return {"status": "error", "message": 400, "correlationId": cid,
            "category": ["VALIDATION_ERROR"],
            "errors": {"message": "Property values were not valid", "code": "INVALID_OPTION"},
            "context": "objectWriteTraceId"}


def wrong_types_batch(body):
    body = dict(body)
    body["numErrors"] = "1"
    body["errors"] = [{"status": "error", "category": ["VALIDATION_ERROR"], "message": 7,
                       "context": "objectWriteTraceId"}]
    return body


def nested_json(n, kind):
    """JSON text of exactly n nested arrays/objects."""
    opens, closes = [], []
    for i in range(n):
        arr = kind == "array" or (kind == "mixed" and i % 2 == 0)
        if i == n - 1:
            opens.append("[]" if arr else "{}")
        else:
            opens.append("[" if arr else '{"a":')
            closes.append("]" if arr else "}")
    closes.reverse()
    return ("".join(opens) + "".join(closes)).encode()


def inject_member(data, key, value_text):
    """Put "key":<value_text> first in the JSON object text data (key not in it)."""
    rest = data[1:].lstrip()
    sep = b"" if rest.startswith(b"}") else b","
    return b'{"' + key.encode() + b'":' + value_text + sep + rest


def pad_to(data, n):
    """data grown to n bytes: a padding string member in a JSON object, else trailing spaces."""
    if len(data) >= n:
        return data
    if data[:1] == b"{":
        rest = data[1:].lstrip()
        sep = b"" if rest.startswith(b"}") else b","
        k = n - (1 + len(PAD_KEY) + 1 + len(sep) + len(rest))
        if k >= 0:
            return b"{" + PAD_KEY + b"x" * k + b'"' + sep + rest
    return data + b" " * (n - len(data))


def dump_json(body):
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HubSpotSim/1.0"

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if not self.server.sim.quiet:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def log_request(self, code="-", size="-"):
        pass

    def do_GET(self):
        self.server.sim_dispatch(self, "GET")

    def do_POST(self):
        self.server.sim_dispatch(self, "POST")

    def do_PATCH(self):
        self.server.sim_dispatch(self, "PATCH")

    def do_DELETE(self):
        self.server.sim_dispatch(self, "DELETE")

    def do_PUT(self):
        self.server.sim_dispatch(self, "PUT")

    def do_HEAD(self):
        self.server.sim_dispatch(self, "HEAD")

    def do_OPTIONS(self):
        self.server.sim_dispatch(self, "OPTIONS")

    # ------------------------------------------------------------------ low level IO
    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:          # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = self.headers.get("Content-Length")
        if n:
            try:
                n = int(n)
            except ValueError:
                n = 0
            if n > 0:
                return self.rfile.read(n)
        return b""

    def send_raw(self, status, body, headers, close=False, declared_len=None):
        """Write one answer.  A Content-Length or Connection among headers is sent as given
        (Connection: close then closes the connection)."""
        out = ["HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Unknown"))]
        has_len = has_conn = False
        for k, v in headers:
            out.append("%s: %s\r\n" % (k, v))
            lk = k.lower()
            if lk == "content-length":
                has_len = True
            elif lk == "connection":
                has_conn = True
                if str(v).strip().lower() == "close":
                    close = True
        if status != 204 and status >= 200 and not has_len:
            out.append("Content-Length: %d\r\n" % (len(body) if declared_len is None
                                                   else declared_len))
        if close or self.close_connection:
            if not has_conn:
                out.append("Connection: close\r\n")
            self.close_connection = True
        out.append("\r\n")
        data = "".join(out).encode("latin-1")
        if body and status != 204:
            data += body
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, sim):
        self.sim = sim
        ThreadingHTTPServer.__init__(self, addr, Handler)

    # ------------------------------------------------------------------ dispatch
    def sim_dispatch(self, h, method):
        t0 = time.time()
        raw = h.read_body()
        parts = urlsplit(h.path)
        path = parts.path
        if path.startswith("/_sim/") or path == "/_sim":
            return self.control(h, method, path, parts.query, raw)
        sim = self.sim
        ctx = Ctx()
        ctx.h = h
        ctx.method = method
        ctx.path = path
        ctx.query = parts.query
        ctx.raw = raw
        ctx.body = None
        ctx.ninputs = 0
        ctx.t_start = t0
        ctx.is_batch = "/batch/" in path
        ctx.cid = str(uuid.uuid4())
        ctx.logged = False
        ctx.fault = None
        ctx.dry = False
        sim.begin_call(t0)
        try:
            self.api(h, ctx, method, path, parts.query, raw)
        except Exception as e:               # never leave a client hanging
            if not sim.quiet:
                import traceback
                traceback.print_exc()
            if not ctx.logged:
                body = {"status": "error", "message": "simulator error: %r" % (e,),
                        "correlationId": ctx.cid, "category": "INTERNAL_ERROR"}
                self.send_answer(h, ctx, 500, body, [])
        finally:
            if not ctx.logged:
                sim.end_call(ctx, 500)

    def emit(self, h, ctx, status, data, headers, close=False, declared_len=None):
        """Log the call (request log and stats), then send the answer: a client that has the
        answer always finds its call in the log."""
        self.sim.end_call(ctx, status)
        h.send_raw(status, data, headers, close, declared_len)

    def send_answer(self, h, ctx, status, body, headers, override=None):
        hdrs = [("X-HubSpot-Correlation-Id", ctx.cid)]
        if body is None:
            data = b""
        else:
            data = dump_json(body)
            hdrs.append(("Content-Type", JSON_CT))
        hdrs.extend(headers)
        self.emit(h, ctx, status, data, merge_headers(hdrs, override))

    def send_json(self, h, status, body, cid, headers):
        """Control API answers (not logged)."""
        hdrs = [("X-HubSpot-Correlation-Id", cid)]
        data = dump_json(body)
        hdrs.append(("Content-Type", JSON_CT))
        h.send_raw(status, data, hdrs + headers)

    @staticmethod
    def error_answer(err, cid, headers=()):
        body = err.body
        if body.get("status") == "error" and "correlationId" not in body:
            body = dict(body)
            body["correlationId"] = cid
        return err.status, body, list(err.headers) + list(headers)

    def drop(self, h, ctx):
        self.sim.end_call(ctx, 0)
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def api(self, h, ctx, method, path, query, raw):
        sim = self.sim
        cfg = sim.config
        if ctx.is_batch and raw:
            # counted even when the request is rejected (cheap: find the inputs array length)
            try:
                ctx.body = json.loads(raw)
                inputs = ctx.body.get("inputs") if isinstance(ctx.body, dict) else None
                ctx.ninputs = len(inputs) if isinstance(inputs, list) else 0
            except ValueError:
                ctx.body = None

        # 0. HubSpot's edge: over-long URLs never reach the API (no correlation id)
        mx = cfg["max_url_length"]
        if mx and len(h.path) > mx:
            self.emit(h, ctx, 414, PAGE_414, [("Content-Type", "text/html")], close=True)
            return

        # 1. faults (before auth and rate limiting)
        fault = sim.take_fault(path, method == "POST" and RE_ENVELOPE.search(path) is not None)
        ctx.fault = fault
        if fault is not None and fault["_replace"]:
            real = None
            if fault.get("apply"):
                real = self.process(h, ctx, method, path, query, raw)
            d = fault.get("delay_ms")
            if d:
                time.sleep(d / 1000.0)
            return self.send_fault(h, ctx, fault, real)
        override = None
        if fault is not None:
            d = fault.get("delay_ms")
            if d:
                time.sleep(d / 1000.0)
            override = fault.get("headers")
            # a not-done envelope without results: HubSpot has not done the writes
            if fault.get("envelope_status", "COMPLETE") != "COMPLETE" \
                    and fault.get("results", True) is not True:
                ctx.dry = True
        status, body, headers = self.process(h, ctx, method, path, query, raw)
        body = shape_envelope(body, cfg, fault)
        self.send_answer(h, ctx, status, body, headers, override)

    def process(self, h, ctx, method, path, query, raw):
        """Perform the request as HubSpot would -> (status, body or None, headers)."""
        sim = self.sim
        cfg = sim.config
        cid = ctx.cid
        lat = cfg["latency_ms"]
        if lat:
            time.sleep(lat / 1000.0)

        # 2. route
        try:
            route = match_route(method, path)
        except ApiError as e:
            return self.error_answer(e, cid)

        # 3. auth
        auth = h.headers.get("Authorization") or ""
        tok = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        entry = sim.tokens.get(tok) if tok else None
        if entry is None:
            return self.error_answer(ApiError(401, MSG_401, "INVALID_AUTHENTICATION"), cid,
                                     [("x-hubspot-auth-failure", "401 Unauthorized")])

        # 4. rate limits
        err, rh = sim.rate_check(tok, route.search)
        if err is not None:
            ra = cfg["retry_after_on_429"]
            extra = [("Retry-After", retry_after_value(cfg, ra))] if ra is not None else []
            return self.error_answer(err, cid, rh + extra)

        try:
            # 5. object type, scopes, content type
            if route.kind == "schemas":
                if not sim.token_has(entry, SCHEMAS_SCOPES):
                    raise ApiError(403, MSG_403, "MISSING_SCOPES", errors=[{
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": list(SCHEMAS_SCOPES)}}],
                        links={"scopes": SCOPES_LINK})
                status, body = sim.custom_schemas(route.arg)
                return status, body, rh
            ot = sim.resolve(route.type_name)
            if ot is None:
                raise validation_error("Unable to infer object type from: %s" % route.type_name)
            tot = None
            if route.kind == "assoc":
                tot = resolve_type(route.to_name)
                if tot is None:
                    raise validation_error("Unable to infer object type from: %s"
                                           % route.to_name)
                # both types' scopes: read for batch/read and GET labels, else write
                rd = route.arg in ("read", "labels")
                needs = [t.read_scopes if rd else t.write_scopes for t in (ot, tot)]
            elif route.kind == "properties":
                needs = [ot.schema_scopes]
            elif route.kind in ("list", "get", "search") or route.arg == "read":
                needs = [ot.read_scopes]
            else:
                needs = [ot.write_scopes]
            for accepted in needs:
                if not sim.token_has(entry, accepted):
                    raise ApiError(403, MSG_403, "MISSING_SCOPES", errors=[{
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": list(accepted)}}],
                        links={"scopes": SCOPES_LINK})
            if raw and method in ("POST", "PATCH", "PUT"):
                ct = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if ct != "application/json":
                    raise ApiError(415, "HTTP 415 Unsupported Media Type - Content-Type %s is not "
                                   "supported; use application/json" % (ct or "(none)"))

            # 6. handler
            kind = route.kind
            dated_200 = route.ver is not None and route.ver >= "2026-09"
            if kind == "assoc" and route.arg == "labels":
                status, body = sim.assoc_labels(ot, tot)
            elif kind in ("list", "get", "delete", "properties"):
                q = parse_qs(query, keep_blank_values=True) if query else {}
                if kind == "list":
                    base = "http://%s%s" % (h.headers.get("Host", "localhost"), path)
                    status, body = sim.list_objects(ot, q, base)
                elif kind == "get":
                    status, body = sim.get_object(ot, route.arg, q)
                elif kind == "delete":
                    status, body = sim.delete_one(ot, route.arg)
                else:
                    status, body = sim.properties(ot, route.arg)
            else:
                body = ctx.body
                if body is None:
                    body = parse_json(raw)
                    ctx.body = body
                if kind == "assoc":
                    if route.arg == "labels_create":
                        status, body = sim.assoc_label_create(ot, tot, body, raw)
                    else:
                        status, body = sim.associations(route.arg, ot, tot, body, raw,
                                                        route.ver, ctx.dry)
                elif kind == "batch":
                    op = route.arg
                    if cfg["mode"] == "sink":
                        status, body = sim.sink(op, body, raw)
                        if ctx.dry and body is not None:
                            body["results"] = []
                    elif op == "read":
                        q = parse_qs(query) if query else {}
                        status, body = sim.batch_read(ot, body, raw, q_bool(q, "archived"),
                                                      dated_200)
                    else:
                        status, body = sim.batch_write(op, ot, body, raw, dated_200, ctx.dry)
                elif kind == "search":
                    status, body = sim.search(ot, body, raw)
                elif kind == "create_one":
                    status, body = sim.create_one(ot, body, raw, dated_200)
                else:   # patch
                    q = parse_qs(query) if query else {}
                    status, body = sim.update_one(ot, route.arg, body, raw, q)
        except ApiError as e:
            return self.error_answer(e, cid, rh)
        return status, body, rh

    def synthetic(self, ctx):
        """The envelope a replacing fault answers with when the request was not performed:
        what sink mode would answer (results mirror the inputs, fake ids), else no results."""
        m = None if RE_ASSOC.match(ctx.path) else RE_BATCH_OP.search(ctx.path)
        body = ctx.body
        if m and m.group(1) in ("upsert", "update", "create", "read") \
                and isinstance(body, dict) and isinstance(body.get("inputs"), list):
            try:
                return self.sim.sink(m.group(1), body, ctx.raw)[1]
            except ApiError:
                pass
        now = iso_now()
        return {"status": "COMPLETE", "results": [], "startedAt": now, "completedAt": now}

    def send_fault(self, h, ctx, fault, real):
        """Answer with a replacing fault.  real: (status, body, headers) when the request was
        performed (apply), else None."""
        cfg = self.sim.config
        cid = ctx.cid
        if fault.get("drop"):
            return self.drop(h, ctx)
        fst = fault.get("status")
        if fst is not None:
            st = fst
        elif real is not None:
            st = real[0]
        else:
            st = 201 if ctx.path.endswith("/batch/create") else 200
            am = RE_ASSOC.match(ctx.path)
            if am and am.group(1) and am.group(1) >= "2026-09":
                st = 200            # 2026-09 associations batch/create answers 200
        # headers: the real answer's (when it is the base of the body), else Retry-After
        if real is not None and fst is None:
            headers = list(real[2])
        else:
            headers = []
            if st == 477:
                headers.append(("Retry-After", "1"))
            ra = cfg["retry_after_on_429"]
            if st == 429 and ra is not None:
                headers.append(("Retry-After", retry_after_value(cfg, ra)))
        ctype = JSON_CT
        if fault.get("garbage"):
            data = GARBAGE
        elif "raw_body" in fault:
            data = fault["raw_body"].encode("utf-8")
            ctype = fault.get("content_type", JSON_CT)
        elif fault.get("empty_body"):
            data = b""
            ctype = fault.get("content_type", JSON_CT)
        else:
            if "body" in fault:
                body = copy.deepcopy(fault["body"])
            elif fault.get("wrong_types") == "error":
                body = wrong_types_error(cid)
            elif real is not None and (fst is None or fst < 300):
                body = real[1]
            elif fst is not None and fst >= 300:
                body = fault_body(st)
                body["correlationId"] = cid
            else:
                body = self.synthetic(ctx)
            if fault.get("wrong_types") == "batch":
                body = wrong_types_batch(body if isinstance(body, dict)
                                         else self.synthetic(ctx))
            body = shape_envelope(body, cfg, fault)
            if "nul_string" in fault:
                body = insert_nul(body, fault["nul_string"])
            if ("nest_depth" in fault or "raw_number" in fault) and not isinstance(body, dict):
                body = self.synthetic(ctx)
            if isinstance(body, dict):
                body = dict(body)
                if "nest_depth" in fault:
                    body.pop("results", None)
                if "raw_number" in fault:
                    body.pop(fault.get("number_field", "numErrors"), None)
            if isinstance(body, str):
                data = body.encode("utf-8")
                ctype = "text/plain;charset=utf-8"
            elif body is None:
                data = b""
                ctype = None
            else:
                data = dump_json(body)
            if "nest_depth" in fault:
                data = inject_member(data, "results", nested_json(
                    fault["nest_depth"], fault.get("nest_kind", "mixed")))
            if "raw_number" in fault:
                data = inject_member(data, fault.get("number_field", "numErrors"),
                                     fault["raw_number"].encode("utf-8"))
            if "content_type" in fault:
                ctype = fault["content_type"]
        if "pad_bytes" in fault:
            data = pad_to(data, fault["pad_bytes"])
        if st == 204 and fst is None and (data or "raw_body" in fault or fault.get("empty_body")):
            st = 200
        hdrs = [("X-HubSpot-Correlation-Id", cid)]
        if ctype is not None and (data or "raw_body" in fault or fault.get("empty_body")):
            hdrs.append(("Content-Type", ctype))
        hdrs = merge_headers(hdrs + headers, fault.get("headers"))
        if fault.get("truncate") or "truncate_at" in fault:
            n = fault.get("truncate_at", len(data) // 2)
            n = max(0, min(n, len(data) - 1))
            self.emit(h, ctx, st, data[:n], hdrs, close=True,
                      declared_len=max(len(data), n + 1))
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.emit(h, ctx, st, data, hdrs)

    # ------------------------------------------------------------------ control API
    def control(self, h, method, path, query, raw):
        sim = self.sim
        cid = str(uuid.uuid4())
        try:
            body = parse_json(raw) if raw else None
        except ApiError as e:
            return self.send_json(h, 400, {"error": e.body["message"]}, cid, [])
        try:
            status, out = self.control_route(method, path, query, body)
        except (ValueError, TypeError) as e:
            status, out = 400, {"error": str(e)}
        except ApiError as e:
            status, out = e.status, {"error": e.body.get("message")}
        self.send_json(h, status, out, cid, [])

    def control_route(self, method, path, query, body):
        sim = self.sim
        if path == "/_sim/reset" and method == "POST":
            sim.reset()
            return 200, {"ok": True}
        if path == "/_sim/config":
            if method == "POST":
                return 200, sim.update_config(body or {})
            if method == "GET":
                return 200, sim.config_view()
        if path == "/_sim/faults":
            if method == "POST":
                return 200, {"ok": True, "faults": sim.add_fault(body)}
            if method == "DELETE":
                with sim.meta:
                    sim.faults = []
                return 200, {"ok": True}
            if method == "GET":
                with sim.meta:
                    return 200, {"faults": [{k: v for k, v in f.items() if k[0] != "_"}
                                            for f in sim.faults]}
        if path == "/_sim/requests":
            if method == "GET":
                q = parse_qs(query) if query else {}
                since = int(q.get("since", ["0"])[-1] or 0)
                with sim.meta:
                    reqs = [r for r in sim.log if r["seq"] > since]
                return 200, {"requests": reqs}
            if method == "DELETE":
                with sim.meta:
                    sim.log = deque()
                return 200, {"ok": True}
        if path == "/_sim/stats":
            if method == "GET":
                with sim.meta:
                    st = dict(sim.stats)
                    st["by_status"] = dict(st["by_status"])
                    st["in_flight"] = sim.in_flight
                return 200, st
            if method == "DELETE":
                with sim.meta:
                    sim._reset_stats()
                return 200, {"ok": True}
        if path == "/_sim/daily_reset" and method == "POST":
            with sim.meta:
                sim.daily = {}
            return 200, {"ok": True}
        m = RE_SIM_ASSOC.match(path)
        if m:
            names = (unquote(m.group(1)), unquote(m.group(2)))
            fot, tot = (resolve_type(x) for x in names)
            for t, x in ((fot, names[0]), (tot, names[1])):
                if t is None:
                    raise ValueError("Unable to infer object type from: %s" % x)
            if m.group(3):
                if method == "GET":
                    return sim.assoc_labels(fot, tot)
                if method == "POST":
                    if not isinstance(body, dict) or "label" not in body:
                        raise ValueError('body must be {"label": "..." | null, "name", '
                                         '"inverseLabel", "category", "typeId", '
                                         '"inverseTypeId"}')
                    bad = set(body) - {"label", "name", "inverseLabel", "category", "typeId",
                                       "inverseTypeId"}
                    if bad:
                        raise ValueError("unknown keys: %s" % ", ".join(sorted(bad)))
                    for k in ("typeId", "inverseTypeId"):
                        if k in body and not _is_int(body[k]):
                            raise ValueError("%s must be an integer" % k)
                    for k in ("label", "name", "inverseLabel", "category"):
                        if body.get(k) is not None and not isinstance(body[k], str):
                            raise ValueError("%s must be a string" % k)
                    res = sim.define_label(fot, tot, body["label"], body.get("name"),
                                           body.get("inverseLabel"),
                                           body.get("category") or "USER_DEFINED",
                                           body.get("typeId"), body.get("inverseTypeId"))
                    return 200, {"ok": True, "results": res}
            elif method == "GET":
                return 200, {"results": sim.assoc_view(fot, tot)}
        if path == "/_sim/schemas" and method == "POST":
            return 200, sim.add_custom_schema(body)
        m = RE_SIM_TYPE.match(path)
        if m:
            ot = sim.resolve(unquote(m.group(2)))
            if ot is None:
                raise ValueError("Unable to infer object type from: %s" % unquote(m.group(2)))
            if m.group(1) == "objects" and method == "GET":
                schema = sim.schema_for(ot.key)
                with sim.lock:
                    st = sim.store_for(ot.key, schema)
                    res = []
                    for rid in st.ids:
                        rec = st.records[rid]
                        r = {"id": rec.sid, "properties": dict(rec.props),
                             "createdAt": rec.created, "updatedAt": rec.updated,
                             "archived": rec.archived}
                        if rec.archived:
                            r["archivedAt"] = rec.archived_at
                        res.append(r)
                return 200, {"results": res}
            if m.group(1) == "properties":
                if method == "POST":
                    return 200, {"ok": True, "properties": sim.set_schema(ot, body)}
                if method == "GET":
                    return 200, {"results": sim.schema_for(ot.key).full_list}
        return 404, {"error": "no such control endpoint: %s %s" % (method, path)}


def fmt_num(v):
    return str(int(v)) if float(v).is_integer() else str(v)


def parse_json(raw):
    if not raw:
        raise ApiError(400, "Invalid input JSON on line 1, column 0: No content to map due to "
                       "end-of-input")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "Invalid input JSON on line 1, column 1: Invalid UTF-8 start byte")
    except json.JSONDecodeError as e:
        raise ApiError(400, "Invalid input JSON on line %d, column %d: %s"
                       % (e.lineno, e.colno, e.msg))
    except ValueError as e:
        raise ApiError(400, "Invalid input JSON on line 1, column 1: %s" % e)


# --------------------------------------------------------------------------------------------
# Entry points


def make_server(host="127.0.0.1", port=0, quiet=True):
    """Create (not start) a server; its .sim is the simulator state."""
    return SimServer((host, port), Sim(quiet=quiet))


def start_in_thread(host="127.0.0.1", port=0, quiet=True):
    srv = make_server(host, port, quiet)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    return srv


def write_port_file(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="HubSpot CRM API simulator")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--quiet", action="store_true", help="no per-request logging (default)")
    ap.add_argument("--verbose", action="store_true", help="log each request on stderr")
    ap.add_argument("--cpu", type=int, help="pin the simulator to this CPU: its threads then do "
                    "not bounce the GIL between cores (about 1.6x the throughput under load)")
    args = ap.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    srv = make_server(args.host, args.port, quiet=not args.verbose)
    port = srv.server_address[1]
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    if args.port_file:
        write_port_file(args.port_file, port)
    if args.verbose or not args.port_file:
        sys.stderr.write("hubspot_sim listening on http://%s:%d\n" % (args.host, port))
        sys.stderr.flush()
    while not stop.wait(1.0):
        pass
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
