/*-------------------------------------------------------------------------
 * input.c
 *		Parse a user's jsonb inputs into HsInputs.
 *
 * inputs: [input, ...] or {"inputs": [input, ...]}; batch/read also takes
 * "properties", "propertiesWithHistory" and "idProperty" beside them.
 * Everything is checked before anything is sent or queued; each input
 * keeps a trace id that is unique in its call (the caller's own
 * objectWriteTraceId, or its position), so that answers can be matched.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "convert.h"
#include "input.h"

static void
check_text(const char *s, const char *key, const char *what)
{
	if (s[0] == '\0' || strlen(s) > HS_MAX_VALUE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of %s must be a non-empty string of at most %d characters",
						key, what, HS_MAX_VALUE_LEN)));
}

static char *
input_text(JsonbContainer *obj, const char *key, const char *what, bool required)
{
	JsonbValue	v;
	JsonbValue *jv = hs_jsonb_get(obj, key, &v);
	char	   *s;

	if (jv == NULL || jv->type == jbvNull)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has no \"%s\"", what, key),
					 strcmp(key, "idProperty") == 0 ?
					 errhint("An upsert names the unique property its \"id\" is a value of, such as \"email\" for contacts.") : 0));
		return NULL;
	}
	if (jv->type != jbvString && jv->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of %s must be a string", key, what)));
	s = hs_jsonb_scalar_text(jv);
	check_text(s, key, what);
	return s;
}

/* Refuse any member of obj that allowed() does not take; hint may be NULL. */
static void
check_members(JsonbContainer *obj, HsOp op, bool (*allowed) (const char *key, HsOp op),
			  const char *what)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *k;

		if (tok != WJB_KEY)
			continue;
		k = pnstrdup(v.val.string.val, v.val.string.len);
		if (allowed(k, op))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has an unexpected key \"%s\" for batch %s", what, k, hs_op_name(op)),
				 op == HS_OP_READ && strcmp(k, "idProperty") == 0 ?
				 errhint("batch/read takes one \"idProperty\" beside \"inputs\": {\"idProperty\": \"email\", \"inputs\": [...]}.") : 0));
	}
}

/* The members an input of this operation takes. */
static bool
input_member(const char *k, HsOp op)
{
	return strcmp(k, "id") == 0 || strcmp(k, "objectWriteTraceId") == 0 ||
		(strcmp(k, "idProperty") == 0 && op != HS_OP_CREATE && op != HS_OP_READ) ||
		(strcmp(k, "properties") == 0 && op != HS_OP_ARCHIVE && op != HS_OP_READ) ||
		(strcmp(k, "associations") == 0 && op == HS_OP_CREATE);
}

/* The members beside "inputs" in {"inputs": [...]}. */
static bool
envelope_member(const char *k, HsOp op)
{
	return strcmp(k, "inputs") == 0 ||
		(op == HS_OP_READ && (strcmp(k, "properties") == 0 ||
							  strcmp(k, "propertiesWithHistory") == 0 ||
							  strcmp(k, "idProperty") == 0));
}

static char *
input_properties(JsonbContainer *obj, const char *what)
{
	JsonbValue	v;
	JsonbValue *jv = hs_jsonb_get(obj, "properties", &v);
	HsProps		props;

	if (jv == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has no \"properties\"", what)));
	if (jv->type != jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"properties\" of %s is not a JSON object", what)));
	hs_props_init(&props);
	hs_props_add_jsonb(&props, jv->val.binary.data, what);
	return hs_props_text(&props);
}

static HsInput *
parse_one(HsOp op, JsonbValue *el, int i, const char *read_id_property)
{
	HsInput    *in = palloc0(sizeof(HsInput));
	char	   *what = psprintf("input %d", i + 1);
	JsonbContainer *obj;
	JsonbValue	v;
	JsonbValue *jv;

	if (el->type != jbvBinary || !JsonContainerIsObject(el->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is not a JSON object", what),
				 errhint("Each input looks like {\"id\": \"...\", \"idProperty\": \"...\", \"properties\": {...}}.")));
	obj = el->val.binary.data;
	check_members(obj, op, input_member, what);
	/* the caller's own trace id is kept: it is how they match rows, too */
	in->trace = input_text(obj, "objectWriteTraceId", what, false);
	in->id = input_text(obj, "id", what, op != HS_OP_CREATE);
	if (op == HS_OP_READ)
		in->id_property = (char *) read_id_property;
	else if (op != HS_OP_CREATE)
		in->id_property = input_text(obj, "idProperty", what, op == HS_OP_UPSERT);
	if (in->id_property)
		hs_check_property_name("\"idProperty\"", in->id_property);
	if (op != HS_OP_CREATE)
		in->key = hs_record_key(in->id_property, in->id);
	if (op == HS_OP_UPSERT || op == HS_OP_UPDATE || op == HS_OP_CREATE)
		in->properties = input_properties(obj, what);
	if (op == HS_OP_CREATE && (jv = hs_jsonb_get(obj, "associations", &v)) != NULL)
	{
		if (jv->type != jbvBinary || !JsonContainerIsArray(jv->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"associations\" of %s is not a JSON array", what)));
		in->extra = psprintf("\"associations\":%s",
							 JsonbToCString(NULL, jv->val.binary.data, -1));
	}
	return in;
}

/* A JSON array of property names, checked, as text; adds extra if missing. */
static char *
property_list(JsonbValue *jv, const char *key, const char *extra)
{
	StringInfoData buf;
	bool		have_extra = false;
	int			i,
				len;

	if (jv->type != jbvBinary || !JsonContainerIsArray(jv->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must be a JSON array of property names", key)));
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	len = JsonContainerSize(jv->val.binary.data);
	for (i = 0; i < len; i++)
	{
		JsonbValue *el = getIthJsonbValueFromContainer(jv->val.binary.data, i);
		char	   *name;

		if (el->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" must be a JSON array of property names", key),
					 errdetail("Element %d is not a string.", i + 1)));
		name = pnstrdup(el->val.string.val, el->val.string.len);
		hs_check_property_name(psprintf("\"%s\"", key), name);
		have_extra |= extra && strcmp(name, extra) == 0;
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, name);
	}
	if (extra && !have_extra)
	{
		if (len > 0)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, extra);
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/*
 * batch/read takes its options beside the inputs.  A read by idProperty
 * asks for that property too: HubSpot returns only the properties asked
 * for, and the results are matched to inputs by that property's value.
 */
static char *
read_options(JsonbContainer *root, char **id_property)
{
	StringInfoData buf;
	JsonbValue	v;
	JsonbValue *jv;

	if ((jv = hs_jsonb_get(root, "idProperty", &v)) != NULL)
	{
		if (jv->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"idProperty\" must be a string")));
		*id_property = hs_jsonb_scalar_text(jv);
		hs_check_property_name("\"idProperty\"", *id_property);
	}
	initStringInfo(&buf);
	if ((jv = hs_jsonb_get(root, "properties", &v)) != NULL)
		appendStringInfo(&buf, "\"properties\":%s",
						 property_list(jv, "properties", *id_property));
	else if (*id_property)
	{
		appendStringInfoString(&buf, "\"properties\":[");
		escape_json(&buf, *id_property);
		appendStringInfoChar(&buf, ']');
	}
	if ((jv = hs_jsonb_get(root, "propertiesWithHistory", &v)) != NULL)
		appendStringInfo(&buf, "%s\"propertiesWithHistory\":%s", buf.len ? "," : "",
						 property_list(jv, "propertiesWithHistory", NULL));
	return buf.len ? buf.data : NULL;
}

/* Inputs without a trace id of their own get their position, if it is free. */
static void
assign_traces(HsParsedInputs *p)
{
	HTAB	   *seen = hs_key_table("hubspot_fdw trace ids", p->n, sizeof(char *));
	int			pass,
				i;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < p->n; i++)
		{
			HsInput    *in = p->inputs[i];
			bool		found;

			if ((pass == 0) != (in->trace != NULL))
				continue;
			if (pass == 1)
				in->trace = psprintf("%d", i + 1);
			hash_search(seen, &in->trace, HASH_ENTER, &found);
			if (found)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("objectWriteTraceId \"%s\" of input %d is not unique among the inputs",
								in->trace, i + 1),
						 pass == 1 ?
						 errdetail("Inputs without an objectWriteTraceId of their own get their position.") : 0));
		}
	hash_destroy(seen);
}

/* [input, ...] or {"inputs": [input, ...], ...}: the array. */
static JsonbContainer *
inputs_array(HsOp op, Jsonb *jb, const char *example)
{
	JsonbContainer *arr = NULL;

	if (JB_ROOT_IS_ARRAY(jb) && !JB_ROOT_IS_SCALAR(jb))
		arr = &jb->root;
	else if (JB_ROOT_IS_OBJECT(jb))
	{
		JsonbValue	v;
		JsonbValue *jv = hs_jsonb_get(&jb->root, "inputs", &v);

		if (jv && jv->type == jbvBinary && JsonContainerIsArray(jv->val.binary.data))
			arr = jv->val.binary.data;
		if (arr)
			check_members(&jb->root, op, envelope_member, "the object");
	}
	if (arr == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inputs must be a JSON array or an object with an \"inputs\" array"),
				 errhint("For example: %s", example)));
	return arr;
}

HsParsedInputs *
hs_parse_inputs(HsOp op, Jsonb *jb)
{
	HsParsedInputs *p = palloc0(sizeof(HsParsedInputs));
	JsonbContainer *arr = NULL;
	char	   *read_id_property = NULL;
	int			i;

	arr = inputs_array(op, jb, "[{\"id\": \"ada@example.com\", \"idProperty\": \"email\", \"properties\": {\"firstname\": \"Ada\"}}]");
	if (op == HS_OP_READ && !JB_ROOT_IS_ARRAY(jb))
		p->read_extra = read_options(&jb->root, &read_id_property);

	p->n = JsonContainerSize(arr);
	p->inputs = palloc(sizeof(HsInput *) * Max(p->n, 1));
	p->originals = palloc(sizeof(Jsonb *) * Max(p->n, 1));
	for (i = 0; i < p->n; i++)
	{
		JsonbValue *el = getIthJsonbValueFromContainer(arr, i);

		CHECK_FOR_INTERRUPTS();
		p->inputs[i] = parse_one(op, el, i, read_id_property);
		p->originals[i] = JsonbValueToJsonb(el);
	}
	assign_traces(p);
	return p;
}


/* ------------------------------------------------------------------------
 * Association inputs: {"from": {"id", "idProperty"?}, "to": {...}, "label"?}
 * ------------------------------------------------------------------------
 */
static bool
assoc_member(const char *k, HsOp op)
{
	return strcmp(k, "from") == 0 || strcmp(k, "to") == 0 || strcmp(k, "label") == 0;
}

static bool
side_member(const char *k, HsOp op)
{
	return strcmp(k, "id") == 0 || strcmp(k, "idProperty") == 0;
}

static void set_side(HsAssocSide *side, const char *type, char *property, char *value,
					 const char *swhat);

static void
parse_side(JsonbContainer *obj, const char *key, const char *type, HsAssocSide *side,
		   const char *what)
{
	JsonbValue	v;
	JsonbValue *jv = hs_jsonb_get(obj, key, &v);
	char	   *swhat = psprintf("\"%s\" of %s", key, what);

	if (jv == NULL || jv->type != jbvBinary || !JsonContainerIsObject(jv->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has no \"%s\" object", what, key),
				 errhint("An association input looks like {\"from\": {\"id\": \"ada@example.com\", \"idProperty\": \"email\"}, \"to\": {\"id\": \"123\"}}.")));
	check_members(jv->val.binary.data, HS_OP_ASSOCIATE, side_member, swhat);
	set_side(side, type, input_text(jv->val.binary.data, "idProperty", swhat, false),
			 input_text(jv->val.binary.data, "id", swhat, true), swhat);
}

/* A side by record id (property NULL or hs_object_id) or by a property's value. */
static void
set_side(HsAssocSide *side, const char *type, char *property, char *value, const char *swhat)
{
	check_text(value, "id", swhat);
	side->type = (char *) type;
	side->value = value;
	side->property = property;
	if (side->property)
		hs_check_property_name("\"idProperty\"", side->property);
	/* hs_object_id is the record id under its property name */
	if (side->property && strcmp(side->property, "hs_object_id") == 0)
		side->property = NULL;
	if (side->property == NULL)
	{
		const char *c;

		for (c = side->value; *c; c++)
			if (*c < '0' || *c > '9')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"id\" of %s is not a record id: \"%s\"", swhat, side->value),
						 errhint("Record ids are digits; name the property of any other key with \"idProperty\".")));
		side->id = side->value;
	}
}

HsAssoc **
hs_parse_assoc_inputs(HsOp op, const char *pair, Jsonb *jb, int *n)
{
	char	   *from_type;
	char	   *to_type;
	JsonbContainer *arr = NULL;
	HsAssoc   **out;
	int			i;

	if (!hs_api_split_pair(pair, &from_type, &to_type))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid association object types \"%s\"", pair),
				 errhint("Write them as from_type/to_type, such as \"contacts/companies\".")));
	hs_check_object_type(from_type);
	hs_check_object_type(to_type);
	arr = inputs_array(op, jb, "[{\"from\": {\"id\": \"ada@example.com\", \"idProperty\": \"email\"}, \"to\": {\"id\": \"example.com\", \"idProperty\": \"domain\"}}]");
	*n = JsonContainerSize(arr);
	out = palloc(sizeof(HsAssoc *) * Max(*n, 1));
	for (i = 0; i < *n; i++)
	{
		JsonbValue *el = getIthJsonbValueFromContainer(arr, i);
		char	   *what = psprintf("input %d", i + 1);

		CHECK_FOR_INTERRUPTS();
		if (el->type != jbvBinary || !JsonContainerIsObject(el->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is not a JSON object", what)));
		out[i] = hs_parse_assoc_input(op, from_type, to_type, el->val.binary.data, what);
		out[i]->original = JsonbValueToJsonb(el);
	}
	return out;
}

/*
 * An association from keys a row holds (an association table's columns, a
 * pushed table's foreign key): the checks of a JSON input, without one.
 */
HsAssoc *
hs_make_assoc(HsOp op, const char *from_type, const char *to_type,
			  char *from_property, char *from_value, char *to_property, char *to_value,
			  char *label, const char *what)
{
	HsAssoc    *a = palloc0(sizeof(HsAssoc));

	a->op = op;
	set_side(&a->side[HS_FROM], from_type, from_property, from_value,
			 psprintf("\"from\" of %s", what));
	set_side(&a->side[HS_TO], to_type, to_property, to_value, psprintf("\"to\" of %s", what));
	if (label)
		check_text(label, "label", what);
	a->label = label;
	return a;
}

/* One association input object (the queue keeps each as its properties). */
HsAssoc *
hs_parse_assoc_input(HsOp op, const char *from_type, const char *to_type,
					 JsonbContainer *obj, const char *what)
{
	HsAssoc    *a = palloc0(sizeof(HsAssoc));

	check_members(obj, op, assoc_member, what);
	a->op = op;
	parse_side(obj, "from", from_type, &a->side[HS_FROM], what);
	parse_side(obj, "to", to_type, &a->side[HS_TO], what);
	a->label = input_text(obj, "label", what, false);
	return a;
}

static void
side_json(StringInfo buf, HsAssocSide *s)
{
	appendStringInfoString(buf, "{\"id\":");
	escape_json(buf, s->value);
	if (s->property)
	{
		appendStringInfoString(buf, ",\"idProperty\":");
		escape_json(buf, s->property);
	}
	appendStringInfoChar(buf, '}');
}

/* The input as the queue keeps it: the same shape, normalised. */
Jsonb *
hs_assoc_input_jsonb(HsAssoc *a)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"from\":");
	side_json(&buf, &a->side[HS_FROM]);
	appendStringInfoString(&buf, ",\"to\":");
	side_json(&buf, &a->side[HS_TO]);
	if (a->label)
	{
		appendStringInfoString(&buf, ",\"label\":");
		escape_json(&buf, a->label);
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * The pair's record key: each side's property and key as HubSpot compares
 * it, as a JSON array (readable in hubspot_queue, unambiguous).  Writes of
 * one pair keep their order through it, as a record's writes do.
 */
char *
hs_assoc_key(HsAssoc *a)
{
	StringInfoData buf;
	int			s;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (s = 0; s < 2; s++)
	{
		HsAssocSide *side = &a->side[s];

		escape_json(&buf, side->property ? side->property : "hs_object_id");
		appendStringInfoChar(&buf, ',');
		escape_json(&buf, hs_key_fold(side->property, side->value));
		if (s == 0)
			appendStringInfoChar(&buf, ',');
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}
