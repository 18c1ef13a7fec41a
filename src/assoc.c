/*-------------------------------------------------------------------------
 * assoc.c
 *		Associations: sides to record ids, labels to types, then the calls.
 *
 * A run is one owner's associations of one object type pair on one
 * server.  Its steps, each a few calls for the whole run:
 *	1. sides given by a property: batch/read by a unique property (up to
 *	   100 keys a call), search for any other (IN lists of 100 values;
 *	   exactly one live record must match each value);
 *	2. labels given by name: the pair's labels endpoint, once;
 *	3. labelled links: the pairs' present types (batch/read of the from
 *	   records), since HubSpot's batch/create replaces a pair's labels and
 *	   a link must keep the others;
 *	4. the calls: associate/default, create, archive, labels/archive, up
 *	   to 2,000 pairs a call, each pair once.
 * Each item ends with a result, an error (naming the side when a side is
 * at fault), or neither (not tried: the run stopped).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "assoc.h"
#include "keys.h"
#include "ratelimit.h"

#define HS_SEARCH_IN_MAX	100		/* values in one IN filter */

static const char *const side_names[] = {"from", "to"};

static Jsonb *
jsonb_of(const char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* An error that names the side at fault and how the user gave it. */
Jsonb *
hs_assoc_side_error(HsAssoc *a, int s, const char *category, const char *fmt,...)
{
	HsAssocSide *side = &a->side[s];
	StringInfoData msg;
	StringInfoData buf;
	va_list		args;

	initStringInfo(&msg);
	appendStringInfo(&msg, "%s side (%s ", side_names[s], side->type);
	if (side->property)
		appendStringInfo(&msg, "with %s = \"%s\"", side->property, side->value);
	else
		appendStringInfo(&msg, "%s", side->value);
	appendStringInfoString(&msg, "): ");
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&msg, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"status\":\"error\",\"category\":");
	escape_json(&buf, category);
	appendStringInfoString(&buf, ",\"message\":");
	escape_json(&buf, msg.data);
	appendStringInfo(&buf, ",\"side\":\"%s\"}", side_names[s]);
	return jsonb_of(buf.data);
}

/* ------------------------------------------------------------------------
 * Step 1: sides to record ids
 * ------------------------------------------------------------------------
 */

/*
 * Keys resolved in the last minute, per server, token, type and property:
 * a queue of links drained over several rounds looks each key up once.
 * A link refused for a record HubSpot no longer has empties it.
 */
#define HS_KEY_CACHE_MS		60000
#define HS_KEY_CACHE_MAX	200000

typedef struct HsCachedKey
{
	char	   *key;
	char		id[32];
	TimestampTz at;
} HsCachedKey;

static HTAB *key_cache = NULL;

static char *
cache_key(HsAssocRun *run, const char *type, const char *property, const char *value)
{
	return psprintf("%u\x1f%u\x1f%s\x1f%s\x1f%s", run->server->serverid,
					hs_token_hash(run->token), type, property, hs_key_fold(property, value));
}

static void
cache_forget(void)
{
	if (key_cache)
		hash_destroy(key_cache);
	key_cache = NULL;
}

static const char *
cache_get(HsAssocRun *run, HsAssocSide *side)
{
	char	   *k;
	HsCachedKey *e;

	if (key_cache == NULL)
		return NULL;
	k = cache_key(run, side->type, side->property, side->value);
	e = hash_search(key_cache, &k, HASH_FIND, NULL);
	if (e == NULL ||
		TimestampDifferenceExceeds(e->at, GetCurrentTimestamp(), HS_KEY_CACHE_MS))
		return NULL;
	return e->id;
}

static void
cache_put(HsAssocRun *run, const char *type, const char *property, const char *value,
		  const char *id)
{
	MemoryContext old;
	char	   *k;
	HsCachedKey *e;
	bool		found;

	if (strlen(id) >= sizeof(e->id))
		return;
	if (key_cache && hash_get_num_entries(key_cache) >= HS_KEY_CACHE_MAX)
		cache_forget();
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (key_cache == NULL)
		key_cache = hs_key_table("hubspot_fdw resolved keys", 1024, sizeof(HsCachedKey));
	k = cache_key(run, type, property, value);
	e = hash_search(key_cache, &k, HASH_ENTER, &found);
	if (found)
		pfree(k);
	strlcpy(e->id, id, sizeof(e->id));
	e->at = GetCurrentTimestamp();
	MemoryContextSwitchTo(old);
}

/* All sides of one object type and property that still need their id. */
typedef struct HsLookup
{
	char	   *type;
	char	   *property;
	List	   *keys;			/* distinct folded keys, char * */
	HTAB	   *byKey;			/* folded key -> HsLookupEntry */
} HsLookup;

typedef struct HsLookupEntry
{
	char	   *key;			/* folded value: the hash key */
	char	   *value;			/* as the first item gave it */
	List	   *sides;			/* HsAssocSide *, their item in items */
	List	   *items;
	char	   *id;
	int			found;			/* records found with this value */
	StringInfoData ids;			/* their ids, for "ambiguous" */
} HsLookupEntry;

static HsLookup *
lookup_for(List **lookups, const char *type, const char *property)
{
	ListCell   *lc;
	HsLookup   *l;

	foreach(lc, *lookups)
	{
		l = lfirst(lc);
		if (strcmp(l->type, type) == 0 && strcmp(l->property, property) == 0)
			return l;
	}
	l = palloc0(sizeof(HsLookup));
	l->type = pstrdup(type);
	l->property = pstrdup(property);
	l->byKey = hs_key_table("hubspot_fdw association keys", 64, sizeof(HsLookupEntry));
	*lookups = lappend(*lookups, l);
	return l;
}

static void
lookup_add(HsLookup *l, HsAssoc *a, HsAssocSide *side)
{
	char	   *key = hs_key_fold(side->property, side->value);
	bool		found;
	HsLookupEntry *e = hash_search(l->byKey, &key, HASH_ENTER, &found);

	if (!found)
	{
		e->value = side->value;
		e->sides = NIL;
		e->items = NIL;
		e->id = NULL;
		e->found = 0;
		initStringInfo(&e->ids);
		l->keys = lappend(l->keys, key);
	}
	e->sides = lappend(e->sides, side);
	e->items = lappend(e->items, a);
}

/*
 * Does HubSpot hold this property unique, so that batch/read can find a
 * record by it?  Contacts' email always; any other property as the
 * properties API says (hasUniqueValue), asked once per type and run.
 */
static bool property_unique_asked(HsAssocRun *run, const char *type, const char *property);

static bool
property_unique(HsAssocRun *run, const char *type, const char *property)
{

	HsAssocSide probe = {.type = (char *) type,.property = (char *) property,.value = ""};
	const char *known;
	bool		unique = false;

	if (strcmp(property, "email") == 0 && strcmp(type, "contacts") == 0)
		return true;
	/* the answer is kept with the keys, under an empty value */
	if ((known = cache_get(run, &probe)) != NULL)
		return known[0] == 'u';
	unique = property_unique_asked(run, type, property);
	cache_put(run, type, property, "", unique ? "u" : "n");
	return unique;
}

static bool
property_unique_asked(HsAssocRun *run, const char *type, const char *property)
{
	Jsonb	   *props;
	JsonbValue	v;
	JsonbValue *results;
	int			i,
				n;

	props = hs_call_get(run->server, run->token, hs_api_properties_url(run->server, type));
	results = hs_jsonb_get(&props->root, "results", &v);
	if (results == NULL || results->type != jbvBinary)
		return false;
	n = JsonContainerSize(results->val.binary.data);
	for (i = 0; i < n; i++)
	{
		JsonbValue *p = getIthJsonbValueFromContainer(results->val.binary.data, i);
		JsonbValue	nv;
		JsonbValue	uv;
		char	   *name;
		JsonbValue *u;

		if (p->type != jbvBinary)
			continue;
		name = hs_jsonb_scalar_text(hs_jsonb_get(p->val.binary.data, "name", &nv));
		if (name == NULL || strcmp(name, property) != 0)
			continue;
		u = hs_jsonb_get(p->val.binary.data, "hasUniqueValue", &uv);
		return u != NULL && u->type == jbvBool && u->val.boolean;
	}
	return false;
}

static void
entry_fail(HsLookupEntry *e, const char *category, bool retry, bool absent,
		   const char *fmt, const char *arg)
{
	ListCell   *ls;
	ListCell   *la;

	forboth(ls, e->sides, la, e->items)
	{
		HsAssocSide *side = lfirst(ls);
		HsAssoc    *a = lfirst(la);

		side->error = hs_assoc_side_error(a, side == &a->side[HS_FROM] ? HS_FROM : HS_TO,
										  category, fmt, arg);
		side->retry = retry;
		side->absent = absent;
	}
}

static void
entry_found(HsAssocRun *run, HsLookup *l, HsLookupEntry *e, const char *id)
{
	ListCell   *ls;

	foreach(ls, e->sides)
		((HsAssocSide *) lfirst(ls))->id = pstrdup(id);
	cache_put(run, l->type, l->property, e->value, id);
}

/* A unique property: batch/read by it, as a job of the run's own. */
static HsJob *
read_job(HsAssocRun *run, HsLookup *l)
{
	int			n = list_length(l->keys);
	HsInput   **ins = palloc(sizeof(HsInput *) * Max(n, 1));
	StringInfoData extra;
	ListCell   *lc;
	int			i = 0;
	HsJob	   *job;

	foreach(lc, l->keys)
	{
		char	   *key = lfirst(lc);
		HsLookupEntry *e = hash_search(l->byKey, &key, HASH_FIND, NULL);
		HsInput    *in = palloc0(sizeof(HsInput));

		in->id = e->value;
		in->id_property = l->property;
		in->key = hs_record_key(l->property, e->value);
		ins[i++] = in;
	}
	initStringInfo(&extra);
	appendStringInfoString(&extra, "\"properties\":[");
	escape_json(&extra, l->property);
	appendStringInfoChar(&extra, ']');
	job = hs_job_new(run->server, run->token, l->type, HS_OP_READ, ins, n);
	job->read_extra = extra.data;
	return job;
}

static void
read_job_done(HsAssocRun *run, HsLookup *l, HsJob *job)
{
	int			i;

	for (i = 0; i < job->n; i++)
	{
		char	   *key = hs_key_fold(l->property, job->inputs[i]->id);
		HsLookupEntry *e = hash_search(l->byKey, &key, HASH_FIND, NULL);
		HsOutcome  *o = &job->out[i];
		JsonbValue	v;
		char	   *id;

		if (o->result &&
			(id = hs_jsonb_scalar_text(hs_jsonb_get(&o->result->root, "id", &v))) != NULL)
			entry_found(run, l, e, id);
		else if (o->error)
		{
			char	   *cat = hs_jsonb_scalar_text(hs_jsonb_get(&o->error->root, "category", &v));
			char	   *msg = hs_jsonb_scalar_text(hs_jsonb_get(&o->error->root, "message", &v));

			if (cat && strcmp(cat, "OBJECT_NOT_FOUND") == 0)
				entry_fail(e, "OBJECT_NOT_FOUND", false, false, "%s", "no such record in HubSpot");
			else
				entry_fail(e, cat ? cat : "ERROR", o->retry || job->transient[i], false,
						   "looking it up failed: %s", msg ? msg : "unknown error");
		}
		else
			entry_fail(e, "NOT_SENT", true, false, "%s", "it was not looked up");
	}
	if (job->stop != HS_STOP_NONE && run->stop == HS_STOP_NONE)
	{
		run->stop = job->stop;
		run->stop_result = job->stop_result;
	}
}

/* The search body for up to HS_SEARCH_IN_MAX values, lowercased as IN asks. */
static char *
search_body(HsLookup *l, ListCell *first, int count, const char *after)
{
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"filterGroups\":[{\"filters\":[{\"propertyName\":");
	escape_json(&buf, l->property);
	appendStringInfoString(&buf, ",\"operator\":\"IN\",\"values\":[");
	for_each_cell(lc, l->keys, first)
	{
		if (i == count)
			break;
		if (i++ > 0)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, hs_key_fold("email", lfirst(lc)));
	}
	appendStringInfoString(&buf, "]}]}],\"properties\":[");
	escape_json(&buf, l->property);
	appendStringInfo(&buf, "],\"sorts\":[{\"propertyName\":\"hs_object_id\",\"direction\":\"ASCENDING\"}],\"limit\":200%s%s%s}",
					 after ? ",\"after\":\"" : "", after ? after : "", after ? "\"" : "");
	return buf.data;
}

typedef struct HsFolded
{
	char	   *key;			/* the value lowercased, as search compares */
	HsLookupEntry *e;
} HsFolded;

/* One search answer's records, counted against the values they carry. */
static char *
search_page(HsLookup *l, HTAB *folded, Jsonb *answer)
{
	JsonbValue	v;
	JsonbValue *results = hs_jsonb_get(&answer->root, "results", &v);
	JsonbValue	pv;
	JsonbValue *paging;
	int			i,
				n;

	n = results && results->type == jbvBinary &&
		JsonContainerIsArray(results->val.binary.data) ?
		JsonContainerSize(results->val.binary.data) : 0;
	for (i = 0; i < n; i++)
	{
		JsonbValue *r = getIthJsonbValueFromContainer(results->val.binary.data, i);
		JsonbValue	iv;
		JsonbValue	prv;
		JsonbValue	vv;
		JsonbValue *props;
		char	   *id;
		char	   *value;
		char	   *key;
		HsLookupEntry *e;

		if (r->type != jbvBinary)
			continue;
		id = hs_jsonb_scalar_text(hs_jsonb_get(r->val.binary.data, "id", &iv));
		props = hs_jsonb_get(r->val.binary.data, "properties", &prv);
		value = props && props->type == jbvBinary ?
			hs_jsonb_scalar_text(hs_jsonb_get(props->val.binary.data, l->property, &vv)) : NULL;
		if (id == NULL || value == NULL)
			continue;
		/* search compares strings without case: so does the match */
		key = hs_key_fold("email", value);
		{
			HsFolded   *f = hash_search(folded, &key, HASH_FIND, NULL);

			e = f ? f->e : NULL;
		}
		if (e == NULL || (e->id && strcmp(e->id, id) == 0))
			continue;
		appendStringInfo(&e->ids, "%s%s", e->found ? ", " : "", id);
		e->found++;
		e->id = id;
	}
	paging = hs_jsonb_get(&answer->root, "paging", &pv);
	if (paging && paging->type == jbvBinary)
	{
		JsonbValue	nv;
		JsonbValue	av;
		JsonbValue *next = hs_jsonb_get(paging->val.binary.data, "next", &nv);

		if (next && next->type == jbvBinary)
			return hs_jsonb_scalar_text(hs_jsonb_get(next->val.binary.data, "after", &av));
	}
	return NULL;
}

/*
 * A property HubSpot does not hold unique: search, which must find
 * exactly one live record per value.  Search lags fresh writes: none
 * found is "absent" (the caller may wait and look again).
 */
static void
search_lookup(HsAssocRun *run, HsLookup *l)
{
	char	   *url = hs_api_search_url(run->server, l->type);
	int			total = list_length(l->keys);
	HTAB	   *folded = hs_key_table("hubspot_fdw search values", total, sizeof(HsFolded));
	int			done;
	ListCell   *lc;

	foreach(lc, l->keys)
	{
		char	   *key = lfirst(lc);
		char	   *fk = hs_key_fold("email", key);
		HsFolded   *f = hash_search(folded, &fk, HASH_ENTER, NULL);

		f->e = hash_search(l->byKey, &key, HASH_FIND, NULL);
	}

	for (done = 0; done < total; done += HS_SEARCH_IN_MAX)
	{
		ListCell   *first = list_nth_cell(l->keys, done);
		int			count = Min(HS_SEARCH_IN_MAX, total - done);
		char	   *after = NULL;

		do
		{
			CHECK_FOR_INTERRUPTS();
			after = search_page(l, folded, hs_call_read(run->server, run->token, url,
												search_body(l, first, count, after), true));
		} while (after != NULL);
	}
	foreach(lc, l->keys)
	{
		char	   *key = lfirst(lc);
		HsLookupEntry *e = hash_search(l->byKey, &key, HASH_FIND, NULL);

		if (e->found == 1)
			entry_found(run, l, e, e->id);
		else if (e->found == 0)
			entry_fail(e, "OBJECT_NOT_FOUND", false, true,
					   "no live record has this %s (search finds records a few moments after they are written)",
					   l->property);
		else
			entry_fail(e, "AMBIGUOUS", false, false,
					   "several records have this value: %s", e->ids.data);
	}
}

/* Search now, or tell the caller to batch/read: a unique property. */
static bool
lookup_or_search(HsAssocRun *run, HsLookup *l)
{
	if (property_unique(run, l->type, l->property))
		return true;
	search_lookup(run, l);
	return false;
}

/*
 * A lookup that ERRORs (a search refused, HubSpot out of reach) fails its
 * sides for now, not the run: in the worker, other items go on.
 */
static bool
guarded_lookup(HsAssocRun *run, HsLookup *l)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool unique = false;

	if (run->sync)
		return lookup_or_search(run, l);
	PG_TRY();
	{
		unique = lookup_or_search(run, l);
	}
	PG_CATCH();
	{
		ErrorData  *ed;
		ListCell   *lc;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		foreach(lc, l->keys)
		{
			char	   *key = lfirst(lc);
			HsLookupEntry *e = hash_search(l->byKey, &key, HASH_FIND, NULL);

			if (e->found != 1)
				entry_fail(e, "LOOKUP_FAILED", true, false, "looking it up failed: %s",
						   ed->detail ? ed->detail : ed->message);
		}
		run->transient_seen = true;
		unique = false;
	}
	PG_END_TRY();
	return unique;
}

static void
resolve_sides(HsAssocRun *run)
{
	List	   *lookups = NIL;
	HsJob	  **jobs;
	HsLookup  **of_job;
	int			njobs = 0;
	ListCell   *lc;
	int			i,
				s;

	for (i = 0; i < run->n; i++)
		for (s = 0; s < 2 && run->items[i]->error == NULL; s++)
		{
			HsAssocSide *side = &run->items[i]->side[s];

			const char *cached;

			if (side->id || side->error)
				continue;
			if ((cached = cache_get(run, side)) != NULL)
			{
				side->id = pstrdup(cached);
				side->cached = true;
			}
			else
				lookup_add(lookup_for(&lookups, side->type, side->property),
						   run->items[i], side);
		}
	if (lookups == NIL)
		return;
	jobs = palloc(sizeof(HsJob *) * list_length(lookups));
	of_job = palloc(sizeof(HsLookup *) * list_length(lookups));
	foreach(lc, lookups)
	{
		HsLookup   *l = lfirst(lc);

		if (guarded_lookup(run, l))
		{
			of_job[njobs] = l;
			jobs[njobs++] = read_job(run, l);
		}
	}
	if (njobs > 0)
	{
		hs_dispatch(jobs, njobs, run->sync, run->stats);
		for (i = 0; i < njobs; i++)
			read_job_done(run, of_job[i], jobs[i]);
	}
}

/* ------------------------------------------------------------------------
 * Step 2: labels to types
 * ------------------------------------------------------------------------
 */
static const char *const categories[] = {
	"HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK"
};

static char *
type_json(const char *category, const char *type_id)
{
	return psprintf("{\"associationCategory\":\"%s\",\"associationTypeId\":%s}",
					category, type_id);
}

/* "CATEGORY:typeId", or NULL when the label is a name */
static char *
parse_label_type(const char *label)
{
	const char *colon = strchr(label, ':');
	int			i;

	if (colon == NULL || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return NULL;
	for (i = 0; i < lengthof(categories); i++)
		if (strlen(categories[i]) == (size_t) (colon - label) &&
			strncmp(label, categories[i], colon - label) == 0)
			return type_json(categories[i], colon + 1);
	return NULL;
}

static void
label_types(HsAssocRun *run, char **types)
{
	Jsonb	   *labels = NULL;
	int			i;

	for (i = 0; i < run->n; i++)
	{
		HsAssoc    *a = run->items[i];
		JsonbValue	v;
		JsonbValue *results;
		int			k,
					n;

		types[i] = NULL;
		if (a->label == NULL || (types[i] = parse_label_type(a->label)) != NULL)
			continue;
		if (labels == NULL)
		{
			char	   *from_type;
			char	   *to_type;

			(void) hs_api_split_pair(run->pair, &from_type, &to_type);
			labels = hs_call_get(run->server, run->token,
								 hs_api_assoc_labels_url(run->server, from_type, to_type));
		}
		results = hs_jsonb_get(&labels->root, "results", &v);
		n = results && results->type == jbvBinary &&
			JsonContainerIsArray(results->val.binary.data) ?
			JsonContainerSize(results->val.binary.data) : 0;
		for (k = 0; k < n && types[i] == NULL; k++)
		{
			JsonbValue *l = getIthJsonbValueFromContainer(results->val.binary.data, k);
			JsonbValue	lv,
						cv,
						tv;
			char	   *name;
			char	   *cat;
			char	   *tid;

			if (l->type != jbvBinary)
				continue;
			name = hs_jsonb_scalar_text(hs_jsonb_get(l->val.binary.data, "label", &lv));
			cat = hs_jsonb_scalar_text(hs_jsonb_get(l->val.binary.data, "category", &cv));
			tid = hs_jsonb_scalar_text(hs_jsonb_get(l->val.binary.data, "typeId", &tv));
			if (name && cat && tid && strcmp(name, a->label) == 0 &&
				strspn(tid, "0123456789") == strlen(tid))
				types[i] = type_json(cat, tid);
		}
		if (types[i] == NULL)
			a->error = hs_make_error("UNKNOWN_LABEL",
									 psprintf("association label \"%s\" is not defined from %s",
											  a->label, run->pair), 0);
	}
}

/* Labels run in the worker guarded as searches are. */
static void
guarded_labels(HsAssocRun *run, char **types)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (run->sync)
	{
		label_types(run, types);
		return;
	}
	PG_TRY();
	{
		label_types(run, types);
	}
	PG_CATCH();
	{
		ErrorData  *ed;
		int			i;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		for (i = 0; i < run->n; i++)
			if (run->items[i]->label && types[i] == NULL && run->items[i]->error == NULL)
			{
				run->items[i]->error =
					hs_make_error("LOOKUP_FAILED",
								  psprintf("reading the labels of %s failed: %s", run->pair,
										   ed->detail ? ed->detail : ed->message), 0);
				run->items[i]->retry = true;
			}
		run->transient_seen = true;
	}
	PG_END_TRY();
}

/* ------------------------------------------------------------------------
 * Steps 3 and 4: the calls
 * ------------------------------------------------------------------------
 */

/* One pair of one call, and the items it carries. */
typedef struct HsPair
{
	char	   *key;			/* "op from to": the hash key */
	HsInput    *input;
	List	   *items;
	List	   *types;			/* char *: the types to send */
} HsPair;

static const HsOp wire_ops[] = {HS_OP_ASSOC_DEFAULT, HS_OP_ASSOC_CREATE,
HS_OP_ASSOC_ARCHIVE, HS_OP_ASSOC_LABELS_ARCHIVE};

#define HS_WIRE_CREATE 1		/* wire_ops[1]: a labelled link */

static int
wire_op_index(HsAssoc *a, const char *type)
{
	if (a->op == HS_OP_ASSOCIATE)
		return type ? 1 : 0;
	return type ? 3 : 2;
}

static void
add_type(HsPair *p, const char *type)
{
	ListCell   *lc;

	foreach(lc, p->types)
		if (strcmp(lfirst(lc), type) == 0)
			return;
	p->types = lappend(p->types, (char *) type);
}

/*
 * The types a pair holds now, from batch/read of its from record; a
 * labelled link sends them with its own, so that none is lost.
 */
static void
keep_present_types(HsAssocRun *run, List *pairs, HTAB *seen)
{
	HTAB	   *from_ids = hs_key_table("hubspot_fdw association reads", 64, sizeof(char *));
	HsInput   **ins = palloc(sizeof(HsInput *) * Max(list_length(pairs), 1));
	int			n = 0;
	ListCell   *lc;
	HsJob	   *job;
	int			i;

	foreach(lc, pairs)
	{
		HsPair	   *p = lfirst(lc);
		bool		found;

		hash_search(from_ids, &p->input->id, HASH_ENTER, &found);
		if (!found)
		{
			ins[n] = palloc0(sizeof(HsInput));
			ins[n]->id = p->input->id;
			ins[n]->key = p->input->id;
			n++;
		}
	}
	if (n == 0)
		return;
	job = hs_job_new(run->server, run->token, run->pair, HS_OP_ASSOC_READ, ins, n);
	hs_dispatch(&job, 1, run->sync, run->stats);
	for (i = 0; i < n; i++)
	{
		JsonbValue	v;
		JsonbValue *tos;
		int			t,
					nt;

		if (job->out[i].result == NULL)
			continue;
		tos = hs_jsonb_get(&job->out[i].result->root, "to", &v);
		nt = tos && tos->type == jbvBinary && JsonContainerIsArray(tos->val.binary.data) ?
			JsonContainerSize(tos->val.binary.data) : 0;
		for (t = 0; t < nt; t++)
		{
			JsonbValue *to = getIthJsonbValueFromContainer(tos->val.binary.data, t);
			JsonbValue	iv,
						tv;
			char	   *to_id;
			char	   *key;
			HsPair	   *p;
			JsonbValue *types;
			int			k,
						ntypes;

			if (to->type != jbvBinary)
				continue;
			to_id = hs_jsonb_scalar_text(hs_jsonb_get(to->val.binary.data, "toObjectId", &iv));
			types = hs_jsonb_get(to->val.binary.data, "associationTypes", &tv);
			if (to_id == NULL || types == NULL || types->type != jbvBinary)
				continue;
			ntypes = JsonContainerSize(types->val.binary.data);
			key = psprintf("%d %s %s", HS_WIRE_CREATE, ins[i]->id, to_id);
			/* a pair this run does not link */
			if ((p = hash_search(seen, &key, HASH_FIND, NULL)) == NULL)
				continue;
			for (k = 0; k < ntypes; k++)
			{
				JsonbValue *ty = getIthJsonbValueFromContainer(types->val.binary.data, k);
				JsonbValue	cv,
							yv;
				char	   *cat;
				char	   *tid;

				if (ty->type != jbvBinary)
					continue;
				cat = hs_jsonb_scalar_text(hs_jsonb_get(ty->val.binary.data, "category", &cv));
				tid = hs_jsonb_scalar_text(hs_jsonb_get(ty->val.binary.data, "typeId", &yv));
				if (cat && tid && strspn(tid, "0123456789") == strlen(tid))
					add_type(p, type_json(cat, tid));
			}
		}
	}
	if (job->stop != HS_STOP_NONE)
	{
		/* without the present labels a link could wipe them: not now */
		foreach(lc, pairs)
			((HsPair *) lfirst(lc))->input = NULL;
		if (run->stop == HS_STOP_NONE)
		{
			run->stop = job->stop;
			run->stop_result = job->stop_result;
		}
	}
}

static char *
types_text(List *types)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	foreach(lc, types)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) ? "," : "", (char *) lfirst(lc));
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

static void
pair_done(HsAssocRun *run, HsPair *p, HsJob *job, int i)
{
	ListCell   *lc;

	foreach(lc, p->items)
	{
		HsAssoc    *a = lfirst(lc);
		HsOutcome  *o = job ? &job->out[i] : NULL;

		if (o && o->result)
			a->result = o->result;
		else if (o && o->error)
		{
			JsonbValue	v;
			char	   *cat = hs_jsonb_scalar_text(hs_jsonb_get(&o->error->root, "category", &v));
			bool		stale = false;

			/* a record gone since its key was looked up: look again next time */
			if (cat && strcmp(cat, "OBJECT_NOT_FOUND") == 0)
			{
				cache_forget();
				stale = a->side[HS_FROM].cached || a->side[HS_TO].cached;
			}
			a->error = o->error;
			a->retry = o->retry || job->transient[i] || stale;
			run->transient_seen |= a->retry;
		}
	}
}

static void
send_pairs(HsAssocRun *run, char **types)
{
	HTAB	   *seen = hs_key_table("hubspot_fdw association pairs", Max(run->n, 16), sizeof(HsPair));
	List	   *pairs[4] = {NIL, NIL, NIL, NIL};
	HsJob	   *jobs[4];
	int			njobs = 0;
	int			w,
				i;

	for (i = 0; i < run->n; i++)
	{
		HsAssoc    *a = run->items[i];
		int			op = wire_op_index(a, types[i]);
		char	   *key;
		bool		found;
		HsPair	   *p;

		if (a->error || a->side[HS_FROM].id == NULL || a->side[HS_TO].id == NULL)
			continue;
		key = psprintf("%d %s %s", op, a->side[HS_FROM].id, a->side[HS_TO].id);
		p = hash_search(seen, &key, HASH_ENTER, &found);
		if (!found)
		{
			p->input = palloc0(sizeof(HsInput));
			p->input->id = a->side[HS_FROM].id;
			p->input->to_id = a->side[HS_TO].id;
			p->input->key = key;
			p->items = NIL;
			p->types = NIL;
			pairs[op] = lappend(pairs[op], p);
		}
		p->items = lappend(p->items, a);
		if (types[i])
			add_type(p, types[i]);
	}
	if (pairs[HS_WIRE_CREATE] != NIL)
		keep_present_types(run, pairs[HS_WIRE_CREATE], seen);
	for (w = 0; w < 4; w++)
	{
		HsInput   **ins = palloc(sizeof(HsInput *) * Max(list_length(pairs[w]), 1));
		int			n = 0;
		ListCell   *lc;

		foreach(lc, pairs[w])
		{
			HsPair	   *p = lfirst(lc);

			if (p->input == NULL)
				continue;
			p->input->types = p->types ? types_text(p->types) : NULL;
			ins[n++] = p->input;
		}
		jobs[w] = n > 0 ? hs_job_new(run->server, run->token, run->pair, wire_ops[w], ins, n) : NULL;
		if (jobs[w])
			njobs++;
	}
	if (njobs > 0)
	{
		HsJob	   *todo[4];
		int			k = 0;

		for (w = 0; w < 4; w++)
			if (jobs[w])
				todo[k++] = jobs[w];
		hs_dispatch(todo, k, run->sync, run->stats);
	}
	for (w = 0; w < 4; w++)
	{
		ListCell   *lc;

		i = 0;
		foreach(lc, pairs[w])
		{
			HsPair	   *p = lfirst(lc);

			if (p->input == NULL)
				continue;
			pair_done(run, p, jobs[w], i++);
		}
		if (jobs[w] && jobs[w]->stop != HS_STOP_NONE && run->stop == HS_STOP_NONE)
		{
			run->stop = jobs[w]->stop;
			run->stop_result = jobs[w]->stop_result;
		}
	}
}

/* A side that could not be resolved is its item's error. */
static void
sides_to_items(HsAssocRun *run)
{
	int			i,
				s;

	for (i = 0; i < run->n; i++)
	{
		HsAssoc    *a = run->items[i];

		for (s = 0; s < 2 && a->error == NULL; s++)
		{
			HsAssocSide *side = &a->side[s];

			if (side->error == NULL)
				continue;
			a->error = side->error;
			a->retry = side->retry;
			a->wait = side->absent;
		}
	}
}

/* Only the sides: each side's record id, or its error, in the items. */
void
hs_assoc_resolve(HsAssocRun *run)
{
	resolve_sides(run);
	sides_to_items(run);
}

void
hs_assoc_run(HsAssocRun *run)
{
	char	  **types;

	if (run->n == 0)
		return;
	resolve_sides(run);
	sides_to_items(run);
	types = palloc0(sizeof(char *) * run->n);
	guarded_labels(run, types);
	send_pairs(run, types);
}
