/*-------------------------------------------------------------------------
 * import.c
 *		IMPORT FOREIGN SCHEMA crm [LIMIT TO (contacts, ...)] FROM SERVER s
 *		INTO local_schema.
 *
 * One foreign table per object type, one column per property of
 * /crm/v3/properties/{type} (HubSpot types mapped to PostgreSQL types), a
 * text column "id" for the record id, and id_property set to the upsert
 * key: email for contacts, else the first property with unique values.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "dispatch.h"
#include "import.h"
#include "options.h"

static const char *const default_types[] = {"contacts", "companies", "deals", "tickets"};

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
	return "text";
}

static char *
prop_text(JsonbContainer *p, const char *key)
{
	JsonbValue	v;

	return hs_jsonb_scalar_text(hs_jsonb_get(p, key, &v));
}

/* One column definition; names too long for an identifier keep the property option. */
static void
add_column(StringInfo buf, JsonbContainer *p)
{
	char	   *name = prop_text(p, "name");

	if (name == NULL || strcmp(name, "hs_object_id") == 0)
		return;
	appendStringInfo(buf, ",\n  %s %s", quote_identifier(name),
					 pg_type_for(prop_text(p, "type"), prop_text(p, "fieldType")));
	if (strlen(name) >= NAMEDATALEN)
		appendStringInfo(buf, " OPTIONS (property %s)", quote_literal_cstr(name));
}

static char *
table_for(HsServer *server, const char *token, const char *type,
		  ImportForeignSchemaStmt *stmt)
{
	Jsonb	   *body = hs_call_get(server, token, hs_api_properties_url(server, type));
	JsonbValue	v;
	JsonbValue *results = hs_jsonb_get(&body->root, "results", &v);
	StringInfoData buf;
	char	   *id_property = strcmp(type, "contacts") == 0 ? "email" : NULL;
	int			i,
				n;

	if (results == NULL || results->type != jbvBinary ||
		!JsonContainerIsArray(results->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("HubSpot's properties of \"%s\" hold no \"results\" array", type)));
	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (\n  id text",
					 quote_qualified_identifier(stmt->local_schema, type));
	n = JsonContainerSize(results->val.binary.data);
	for (i = 0; i < n; i++)
	{
		JsonbValue *p = getIthJsonbValueFromContainer(results->val.binary.data, i);
		JsonbValue	u;
		JsonbValue *unique;

		if (p->type != jbvBinary)
			continue;
		add_column(&buf, p->val.binary.data);
		unique = hs_jsonb_get(p->val.binary.data, "hasUniqueValue", &u);
		if (id_property == NULL && unique && unique->type == jbvBool && unique->val.boolean)
			id_property = prop_text(p->val.binary.data, "name");
	}
	appendStringInfo(&buf, "\n) SERVER %s OPTIONS (object_type %s",
					 quote_identifier(server->servername), quote_literal_cstr(type));
	if (id_property)
		appendStringInfo(&buf, ", id_property %s", quote_literal_cstr(id_property));
	appendStringInfoString(&buf, ")");
	return buf.data;
}

static List *
wanted_types(ImportForeignSchemaStmt *stmt)
{
	List	   *types = NIL;
	ListCell   *lc;
	int			i;

	if (stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO)
	{
		foreach(lc, stmt->table_list)
			types = lappend(types, ((RangeVar *) lfirst(lc))->relname);
		return types;
	}
	for (i = 0; i < lengthof(default_types); i++)
	{
		bool		excluded = false;

		foreach(lc, stmt->table_list)
			excluded |= strcmp(((RangeVar *) lfirst(lc))->relname, default_types[i]) == 0;
		if (!excluded)
			types = lappend(types, (char *) default_types[i]);
	}
	return types;
}

List *
hsImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	HsServer   *server = hs_server_get(serverOid);
	char	   *token;
	List	   *commands = NIL;
	ListCell   *lc;

	if (strcmp(stmt->remote_schema, "crm") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("HubSpot has no schema \"%s\"", stmt->remote_schema),
				 errhint("Use IMPORT FOREIGN SCHEMA crm [LIMIT TO (contacts, companies, ...)].")));
	token = hs_token_get(serverOid, GetUserId());
	foreach(lc, wanted_types(stmt))
	{
		char	   *type = lfirst(lc);

		hs_check_object_type(type);
		commands = lappend(commands, table_for(server, token, type, stmt));
	}
	return commands;
}
