/*-------------------------------------------------------------------------
 * import.c
 *		IMPORT FOREIGN SCHEMA crm [LIMIT TO | EXCEPT (...)] FROM SERVER s
 *		INTO local_schema [OPTIONS (include_readonly, include_custom)].
 *
 * One foreign table per object type: every standard type the token may
 * read, and the custom objects of /crm/v3/schemas (table named after the
 * object's name, object_type its 2-... id).  One column per property of
 * /crm/v3/properties/{type} (HubSpot types mapped to PostgreSQL types), a
 * text column "id" for the record id, read_only 'true' on the properties
 * HubSpot computes or owns, and id_property set to the upsert key: email
 * for contacts, else the first writable property with unique values.
 *
 * The properties API also names every property of a type for scans that
 * fill a catch-all jsonb column (hs_property_names).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "dispatch.h"
#include "import.h"
#include "options.h"

/*
 * The standard object types with a path name (REFERENCE section 7).  Types
 * known only by a type id, several of which must be activated in the
 * account first, are imported with LIMIT TO.
 */
static const char *const standard_types[] = {
	"contacts", "companies", "deals", "tickets", "products", "line_items",
	"quotes", "communications", "feedback_submissions", "tasks", "notes",
	"meetings", "calls", "emails", "invoices", "subscriptions", "discounts",
	"fees", "taxes", "commerce_payments", "users", "orders", "leads", "carts"
};

/*
 * Association tables made for pairs of imported standard types (HubSpot
 * defines a default association for each, REFERENCE section 13), keyed by
 * record id on both sides: {table, from_type, to_type}.
 */
static const char *const assoc_pairs[][3] = {
	{"contacts_companies", "contacts", "companies"},
	{"contacts_deals", "contacts", "deals"},
	{"contacts_tickets", "contacts", "tickets"},
	{"companies_deals", "companies", "deals"},
	{"companies_tickets", "companies", "tickets"},
	{"deals_tickets", "deals", "tickets"},
	{"deals_line_items", "deals", "line_items"}
};

/* A table to import: its name and the object type it reads. */
typedef struct ImportType
{
	char	   *table;
	char	   *object_type;
} ImportType;

static const char *
pg_type_for(const char *type, const char *field_type)
{
	if (type == NULL)
		return "text";
	if (strcmp(type, "number") == 0)
		return "numeric";
	if (strcmp(type, "bool") == 0)
		return "boolean";
	if (strcmp(type, "date") == 0)
		return "date";
	if (strcmp(type, "datetime") == 0)
		return "timestamptz";
	if (strcmp(type, "enumeration") == 0 && field_type && strcmp(field_type, "checkbox") == 0)
		return "text[]";

	/*
	 * string, phone_number, other enumerations, object_coordinates and json:
	 * text.  json stays text because a jsonb column without a property
	 * option is the catch-all, and HubSpot sends json values as strings.
	 */
	return "text";
}

static char *
prop_text(JsonbContainer *p, const char *key)
{
	JsonbValue	v;

	return hs_jsonb_scalar_text(hs_jsonb_get(p, key, &v));
}

static bool
prop_true(JsonbContainer *p, const char *key)
{
	JsonbValue	v;
	JsonbValue *b = hs_jsonb_get(p, key, &v);

	return b != NULL && b->type == jbvBool && b->val.boolean;
}

/* HubSpot computes the values of calculated properties and owns read-only ones. */
static bool
prop_read_only(JsonbContainer *p)
{
	JsonbValue	v;
	JsonbValue *mm = hs_jsonb_get(p, "modificationMetadata", &v);

	if (prop_true(p, "calculated"))
		return true;
	return mm != NULL && mm->type == jbvBinary &&
		JsonContainerIsObject(mm->val.binary.data) &&
		prop_true(mm->val.binary.data, "readOnlyValue");
}

/* A name that can go into a URL's property list and a column option as is. */
static bool
plain_property_name(const char *name)
{
	const char *p;

	if (name == NULL || name[0] == '\0' || strlen(name) > 200)
		return false;
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

/*
 * GET url; NULL when HubSpot answers 403 (the token lacks the scope).  The
 * call runs in a subtransaction so that the error it raises can be caught
 * and the import go on with the types the token may read.
 */
static Jsonb *
get_unless_forbidden(HsServer *server, const char *token, const char *url,
					 char **why)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Jsonb	   *volatile body = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		body = hs_call_get(server, token, url);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE)
			ReThrowError(edata);
		*why = edata->detail ? edata->detail : edata->message;
	}
	PG_END_TRY();
	return body;
}

/* The "results" array of an answer, or an error naming what was read. */
static JsonbContainer *
results_of(Jsonb *body, const char *what)
{
	JsonbValue	v;
	JsonbValue *results = hs_jsonb_get(&body->root, "results", &v);

	if (results == NULL || results->type != jbvBinary ||
		!JsonContainerIsArray(results->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("HubSpot's answer for %s holds no \"results\" array", what)));
	return results->val.binary.data;
}

/*
 * Every property name of an object type, for a scan that fills a
 * catch-all jsonb column; names that could not travel in a URL as they are
 * (HubSpot's own never contain such characters) are left out.
 */
List *
hs_property_names(HsServer *server, const char *token, const char *object_type)
{
	Jsonb	   *body = hs_call_get(server, token, hs_api_properties_url(server, object_type));
	JsonbContainer *results = results_of(body, psprintf("the properties of \"%s\"", object_type));
	List	   *names = NIL;
	int			i,
				n = JsonContainerSize(results);

	for (i = 0; i < n; i++)
	{
		JsonbValue *p = getIthJsonbValueFromContainer(results, i);
		char	   *name;

		CHECK_FOR_INTERRUPTS();
		if (p->type != jbvBinary || !JsonContainerIsObject(p->val.binary.data))
			continue;
		name = prop_text(p->val.binary.data, "name");
		if (plain_property_name(name))
			names = lappend(names, name);
	}
	return names;
}

/* One column definition; names too long for an identifier keep the property option. */
static void
add_column(StringInfo buf, const char *name, JsonbContainer *p, bool read_only)
{
	bool		long_name = strlen(name) >= NAMEDATALEN;

	appendStringInfo(buf, ",\n  %s %s", quote_identifier(name),
					 pg_type_for(prop_text(p, "type"), prop_text(p, "fieldType")));
	if (long_name || read_only)
		appendStringInfo(buf, " OPTIONS (%s%s%s)",
						 long_name ? psprintf("property %s", quote_literal_cstr(name)) : "",
						 long_name && read_only ? ", " : "",
						 read_only ? "read_only 'true'" : "");
}

/* The CREATE FOREIGN TABLE of one type; NULL when the token may not read it. */
static char *
table_for(HsServer *server, const char *token, ImportType *it,
		  ImportForeignSchemaStmt *stmt, bool include_readonly, bool explicit)
{
	char	   *why = NULL;
	Jsonb	   *body;
	JsonbContainer *results;
	StringInfoData buf;
	char	   *id_property = strcmp(it->object_type, "contacts") == 0 ? "email" : NULL;
	int			i,
				n;

	body = explicit ? hs_call_get(server, token, hs_api_properties_url(server, it->object_type)) :
		get_unless_forbidden(server, token, hs_api_properties_url(server, it->object_type), &why);
	if (body == NULL)
	{
		ereport(NOTICE,
				(errmsg("skipping HubSpot object type \"%s\": the access token may not read it",
						it->object_type),
				 errdetail("%s", why),
				 errhint("Grant the private app the object's read scope, then import it with LIMIT TO.")));
		return NULL;
	}
	results = results_of(body, psprintf("the properties of \"%s\"", it->object_type));
	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (\n  id text",
					 quote_qualified_identifier(stmt->local_schema, it->table));
	n = JsonContainerSize(results);
	for (i = 0; i < n; i++)
	{
		JsonbValue *p = getIthJsonbValueFromContainer(results, i);
		JsonbContainer *pc;
		char	   *name;
		bool		read_only;

		CHECK_FOR_INTERRUPTS();
		if (p->type != jbvBinary || !JsonContainerIsObject(p->val.binary.data))
			continue;
		pc = p->val.binary.data;
		name = prop_text(pc, "name");
		/* hs_object_id is the id column; a property named id would collide with it */
		if (!plain_property_name(name) || strcmp(name, "hs_object_id") == 0 ||
			strcmp(name, "id") == 0)
			continue;
		read_only = prop_read_only(pc);
		if (read_only && !include_readonly)
			continue;
		add_column(&buf, name, pc, read_only);
		/* a read-only key could never be written, so it cannot key upserts */
		if (id_property == NULL && !read_only && prop_true(pc, "hasUniqueValue"))
			id_property = name;
	}
	appendStringInfo(&buf, "\n) SERVER %s OPTIONS (object_type %s",
					 quote_identifier(server->servername), quote_literal_cstr(it->object_type));
	if (id_property)
		appendStringInfo(&buf, ", id_property %s", quote_literal_cstr(id_property));
	appendStringInfoString(&buf, ")");
	return buf.data;
}

/*
 * The custom objects of the account: name and object type id of each
 * schema.  A token without the schemas scope imports the standard types
 * only.
 */
static List *
custom_types(HsServer *server, const char *token)
{
	char	   *why = NULL;
	Jsonb	   *body = get_unless_forbidden(server, token,
											psprintf("%s/crm/v3/schemas", server->api_url), &why);
	JsonbContainer *results;
	List	   *types = NIL;
	int			i,
				n;

	if (body == NULL)
	{
		ereport(NOTICE,
				(errmsg("skipping custom objects: the access token may not read their schemas"),
				 errdetail("%s", why),
				 errhint("Grant the private app the scope crm.schemas.custom.read, or use OPTIONS (include_custom 'false').")));
		return NIL;
	}
	results = results_of(body, "the custom object schemas");
	n = JsonContainerSize(results);
	for (i = 0; i < n; i++)
	{
		JsonbValue *s = getIthJsonbValueFromContainer(results, i);
		ImportType *it;
		char	   *name;
		char	   *type_id;

		CHECK_FOR_INTERRUPTS();
		if (s->type != jbvBinary || !JsonContainerIsObject(s->val.binary.data))
			continue;
		name = prop_text(s->val.binary.data, "name");
		type_id = prop_text(s->val.binary.data, "objectTypeId");
		if (name == NULL || name[0] == '\0' || type_id == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("HubSpot's answer for the custom object schemas holds a schema without a name or objectTypeId")));
		hs_check_object_type(type_id);
		it = palloc(sizeof(ImportType));
		it->table = name;
		it->object_type = type_id;
		types = lappend(types, it);
	}
	return types;
}

static ImportType *
find_table(List *types, const char *table)
{
	ListCell   *lc;

	foreach(lc, types)
		if (strcmp(((ImportType *) lfirst(lc))->table, table) == 0)
			return lfirst(lc);
	return NULL;
}

static bool
listed(ImportForeignSchemaStmt *stmt, const char *table)
{
	ListCell   *lc;

	foreach(lc, stmt->table_list)
		if (strcmp(((RangeVar *) lfirst(lc))->relname, table) == 0)
			return true;
	return false;
}

static char *
assoc_table_for(HsServer *server, ImportForeignSchemaStmt *stmt, int k)
{
	return psprintf("CREATE FOREIGN TABLE %s (\n"
					"  %s_id text OPTIONS (side 'from', property 'hs_object_id'),\n"
					"  %s_id text OPTIONS (side 'to', property 'hs_object_id'),\n"
					"  label text\n"
					") SERVER %s OPTIONS (from_type %s, to_type %s)",
					quote_qualified_identifier(stmt->local_schema, assoc_pairs[k][0]),
					assoc_pairs[k][1], assoc_pairs[k][2],
					quote_identifier(server->servername),
					quote_literal_cstr(assoc_pairs[k][1]), quote_literal_cstr(assoc_pairs[k][2]));
}

static int
assoc_pair_of(const char *table)
{
	int			k;

	for (k = 0; k < lengthof(assoc_pairs); k++)
		if (strcmp(assoc_pairs[k][0], table) == 0)
			return k;
	return -1;
}

/* The association tables of the pairs whose both types were imported. */
static List *
assoc_tables(HsServer *server, ImportForeignSchemaStmt *stmt, List *imported)
{
	List	   *commands = NIL;
	int			k;

	for (k = 0; k < lengthof(assoc_pairs); k++)
		if (list_member(imported, makeString((char *) assoc_pairs[k][1])) &&
			list_member(imported, makeString((char *) assoc_pairs[k][2])) &&
			!listed(stmt, assoc_pairs[k][0]))
			commands = lappend(commands, assoc_table_for(server, stmt, k));
	return commands;
}

List *
hsImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	HsServer   *server = hs_server_get(serverOid);
	bool		include_readonly;
	bool		include_custom;
	bool		limit_to = stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO;
	bool		need_custom = false;
	char	   *token;
	List	   *known = NIL;
	List	   *commands = NIL;
	List	   *imported = NIL;
	ListCell   *lc;
	int			i;

	if (strcmp(stmt->remote_schema, "crm") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("HubSpot has no schema \"%s\"", stmt->remote_schema),
				 errhint("Use IMPORT FOREIGN SCHEMA crm [LIMIT TO (contacts, companies, ...)].")));
	hs_import_options(stmt->options, &include_readonly, &include_custom);
	token = hs_token_get(serverOid, GetUserId());
	for (i = 0; i < lengthof(standard_types); i++)
	{
		ImportType *it = palloc(sizeof(ImportType));

		it->table = it->object_type = (char *) standard_types[i];
		known = lappend(known, it);
	}

	/* LIMIT TO only standard types needs no schemas call */
	if (limit_to)
		foreach(lc, stmt->table_list)
			need_custom |= find_table(known, ((RangeVar *) lfirst(lc))->relname) == NULL;
	if (include_custom && (!limit_to || need_custom))
		known = list_concat(known, custom_types(server, token));

	foreach(lc, limit_to ? stmt->table_list : known)
	{
		ImportType *it;
		char	   *cmd;

		if (limit_to)
		{
			char	   *table = ((RangeVar *) lfirst(lc))->relname;
			int			k = assoc_pair_of(table);

			/* an association table is named, and made, as it is */
			if (k >= 0)
			{
				commands = lappend(commands, assoc_table_for(server, stmt, k));
				continue;
			}
			/* not a standard type nor a custom object's name: an object type itself */
			it = find_table(known, table);
			if (it == NULL)
			{
				hs_check_object_type(table);
				it = palloc(sizeof(ImportType));
				it->table = it->object_type = table;
			}
		}
		else
		{
			it = lfirst(lc);
			if (listed(stmt, it->table))
				continue;
		}
		/* a type named in LIMIT TO must be readable; the others may be skipped */
		cmd = table_for(server, token, it, stmt, include_readonly, limit_to);
		if (cmd)
		{
			commands = lappend(commands, cmd);
			imported = lappend(imported, makeString(it->object_type));
		}
	}
	if (!limit_to)
		commands = list_concat(commands, assoc_tables(server, stmt, imported));
	return commands;
}
