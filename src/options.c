/*-------------------------------------------------------------------------
 * options.c
 *		Validation and lookup of hubspot_fdw options.
 *
 * Every option a user can set is checked here, at CREATE/ALTER time, so
 * that a sender never meets a value it cannot use.  Lookups return plain
 * structs with defaults filled in.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "compat.h"

#include <ctype.h>
#include <limits.h>

#include <curl/curl.h>

#include "access/reloptions.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "options.h"

typedef struct HsOption
{
	const char *name;
	Oid			context;
} HsOption;

static const HsOption valid_options[] = {
	{"api_url", ForeignServerRelationId},
	{"api_version", ForeignServerRelationId},
	{"batch_size", ForeignServerRelationId},
	{"max_concurrency", ForeignServerRelationId},
	{"rate_limit", ForeignServerRelationId},
	{"timeout_ms", ForeignServerRelationId},
	{"max_attempts", ForeignServerRelationId},
	{"ca_file", ForeignServerRelationId},
	{"allow_http", ForeignServerRelationId},
	{"max_answer_bytes", ForeignServerRelationId},
	{"access_token", UserMappingRelationId},
	{"object_type", ForeignTableRelationId},
	{"id_property", ForeignTableRelationId},
	{"delivery", ForeignTableRelationId},
	{"archived", ForeignTableRelationId},
	{"from_type", ForeignTableRelationId},
	{"to_type", ForeignTableRelationId},
	{"property", AttributeRelationId},
	{"side", AttributeRelationId},
	{"read_only", AttributeRelationId},
	{NULL, InvalidOid}
};

static bool
is_valid_option(const char *name, Oid context)
{
	const HsOption *opt;

	for (opt = valid_options; opt->name; opt++)
		if (opt->context == context && strcmp(opt->name, name) == 0)
			return true;
	return false;
}

static char *
valid_option_list(Oid context)
{
	StringInfoData buf;
	const HsOption *opt;

	initStringInfo(&buf);
	for (opt = valid_options; opt->name; opt++)
	{
		if (opt->context != context)
			continue;
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", opt->name);
	}
	return buf.data;
}

/* Parse an integer option strictly and check its range. */
static int
int_option(const char *name, const char *value, int min, int max)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", name, value),
				 errhint("\"%s\" must be an integer between %d and %d.",
						 name, min, max)));
	return (int) v;
}

static void
check_api_url(const char *value)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *query = NULL;
	char	   *user = NULL;
	bool		ok;

	ok = u != NULL &&
		curl_url_set(u, CURLUPART_URL, value, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		(strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		host[0] != '\0' &&
		curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_NO_QUERY &&
		curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
		strchr(value, '#') == NULL;
	curl_free(scheme);
	curl_free(host);
	curl_free(query);
	curl_free(user);
	curl_url_cleanup(u);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"api_url\": \"%s\"", value),
				 errhint("Use an http:// or https:// URL with a host and no user name, query or fragment, such as \"%s\".",
						 HS_DEFAULT_API_URL)));
}

static void
check_api_version(const char *value)
{
	static const char *const versions[] = {"v3", "2026-03", "2026-09"};
	int			i;

	for (i = 0; i < lengthof(versions); i++)
		if (strcmp(value, versions[i]) == 0)
			return;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"api_version\": \"%s\"", value),
			 errhint("Use \"v3\", \"2026-03\" or \"2026-09\".")));
}

static bool
bool_option(const char *name, const char *value)
{
	bool		b;

	if (!parse_bool(value, &b))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", name, value),
				 errhint("Use \"true\" or \"false\".")));
	return b;
}

static void
check_ca_file(const char *value)
{
	if (!is_absolute_path(value))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"ca_file\" must be an absolute path")));
}

/* Loopback: a token may travel unencrypted only to this machine. */
static bool
url_is_loopback_http(const char *url)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	bool		http = false;
	bool		loopback = false;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
	{
		http = pg_strcasecmp(scheme, "http") == 0;
		loopback = strncmp(host, "127.", 4) == 0 || strcmp(host, "[::1]") == 0 ||
			pg_strcasecmp(host, "localhost") == 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return !http || loopback;
}

/* Plain http:// sends the token in clear: only to loopback unless allowed. */
static void
check_plain_http(List *options)
{
	char	   *url = NULL;
	bool		allow = false;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "api_url") == 0)
			url = defGetString(def);
		else if (strcmp(def->defname, "allow_http") == 0)
			allow = bool_option("allow_http", defGetString(def));
	}
	if (url && !allow && !url_is_loopback_http(url))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"api_url\" must use https:// for a host other than loopback"),
				 errdetail("Over plain http:// the access token would cross the network unencrypted."),
				 errhint("Use https://, or set allow_http 'true' if the network is yours.")));
}

/*
 * An access token ends up in an HTTP header: refuse anything that could
 * break out of it.  The value itself never appears in a message.
 */
static void
check_access_token(const char *value)
{
	const char *p;

	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"access_token\" must not be empty")));
	for (p = value; *p; p++)
		if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 127)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"access_token\" contains an invalid character"),
					 errhint("A HubSpot access token is printable ASCII without spaces.")));
}

/*
 * Object types: standard names ("contacts", "line_items"), type ids
 * ("0-1", "2-1234567") and custom names ("p_vendor", "p1234_vendor").
 */
void
hs_check_object_type(const char *object_type)
{
	const char *p;
	bool		ok = object_type[0] != '\0' && strlen(object_type) <= 100;

	for (p = object_type; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			*p == '_' || *p == '-';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid HubSpot object type \"%s\"", object_type),
				 errhint("Use a standard object name such as \"contacts\" or \"companies\", an object type id such as \"0-1\" or \"2-1234567\", or a custom object name such as \"p_vendor\".")));
}

void
hs_check_property_name(const char *what, const char *name)
{
	const char *p;
	bool		ok = name[0] != '\0' && strlen(name) <= 200;

	for (p = name; ok && *p; p++)
		ok = isalnum((unsigned char) *p) || *p == '_' || *p == '-' || *p == '.';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid HubSpot property name \"%s\" for %s", name, what),
				 errhint("HubSpot property names contain only letters, digits and underscores.")));
}

static void
check_option_value(DefElem *def)
{
	const char *name = def->defname;
	const char *value = defGetString(def);

	if (strcmp(name, "api_url") == 0)
		check_api_url(value);
	else if (strcmp(name, "api_version") == 0)
		check_api_version(value);
	else if (strcmp(name, "batch_size") == 0)
		int_option(name, value, 1, HS_MAX_BATCH_SIZE);
	else if (strcmp(name, "max_concurrency") == 0)
		int_option(name, value, 1, 64);
	else if (strcmp(name, "rate_limit") == 0)
		int_option(name, value, 1, 100000);
	else if (strcmp(name, "timeout_ms") == 0)
		int_option(name, value, 100, 3600000);
	else if (strcmp(name, "max_attempts") == 0)
		int_option(name, value, 1, 1000);
	else if (strcmp(name, "access_token") == 0)
		check_access_token(value);
	else if (strcmp(name, "ca_file") == 0)
		check_ca_file(value);
	else if (strcmp(name, "allow_http") == 0 || strcmp(name, "read_only") == 0)
		(void) bool_option(name, value);
	else if (strcmp(name, "max_answer_bytes") == 0)
		int_option(name, value, 1024, 1024 * 1024 * 1024);
	else if (strcmp(name, "object_type") == 0 || strcmp(name, "from_type") == 0 ||
			 strcmp(name, "to_type") == 0)
		hs_check_object_type(value);
	else if (strcmp(name, "side") == 0)
	{
		if (strcmp(value, "from") != 0 && strcmp(value, "to") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"side\": \"%s\"", value),
					 errhint("Use \"from\" or \"to\": which record of the association the column names.")));
	}
	else if (strcmp(name, "id_property") == 0)
		hs_check_property_name("option \"id_property\"", value);
	else if (strcmp(name, "property") == 0)
		hs_check_property_name("option \"property\"", value);
	else if (strcmp(name, "archived") == 0)
	{
		if (strcmp(value, "false") != 0 && strcmp(value, "true") != 0 && strcmp(value, "both") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"archived\": \"%s\"", value),
					 errhint("Use \"false\" (live records), \"true\" (archived records only) or \"both\".")));
	}
	else if (strcmp(name, "delivery") == 0)
	{
		if (strcmp(value, "on_commit") != 0 && strcmp(value, "immediate") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"delivery\": \"%s\"", value),
					 errhint("Use \"on_commit\" (sent by the worker after COMMIT) or \"immediate\" (sent during the statement).")));
	}
}

void
hs_validate_options(List *options, Oid catalog)
{
	ListCell   *lc;
	bool		have_object_type = false;
	int			have_pair = 0;
	bool		have_token = false;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		ListCell   *lc2;

		if (!is_valid_option(def->defname, catalog))
		{
			char	   *list = valid_option_list(catalog);

			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 list[0] ? errhint("Valid options in this context are: %s", list)
					 : errhint("There are no valid options in this context.")));
		}
		foreach(lc2, options)
		{
			if (lc2 == lc)
				break;
			if (strcmp(((DefElem *) lfirst(lc2))->defname, def->defname) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_SYNTAX_ERROR),
						 errmsg("option \"%s\" given more than once", def->defname)));
		}
		check_option_value(def);
		if (strcmp(def->defname, "object_type") == 0)
			have_object_type = true;
		if (strcmp(def->defname, "from_type") == 0 || strcmp(def->defname, "to_type") == 0)
			have_pair++;
		if (strcmp(def->defname, "access_token") == 0)
			have_token = true;
	}

	/*
	 * The table options are validated as a whole on CREATE; ALTER passes the
	 * resulting list too, so a missing object_type is always caught.
	 */
	if (catalog == ForeignServerRelationId)
		check_plain_http(options);
	if (catalog == UserMappingRelationId && !have_token)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"access_token\" is required for a hubspot_fdw user mapping"),
				 errhint("Add OPTIONS (access_token 'pat-...') with the private app's token.")));
	if (catalog == ForeignTableRelationId && have_pair > 0 &&
		(have_pair != 2 || have_object_type))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("an association table takes both \"from_type\" and \"to_type\", and no \"object_type\""),
				 errhint("For example OPTIONS (from_type 'contacts', to_type 'companies').")));
	if (catalog == ForeignTableRelationId && !have_object_type && have_pair == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"object_type\" is required for a hubspot_fdw foreign table"),
				 errhint("Add OPTIONS (object_type 'contacts') or another HubSpot object type.")));
}

static char *
opt_string(List *options, const char *name, const char *dflt)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return dflt ? pstrdup(dflt) : NULL;
}

static int
opt_int(List *options, const char *name, int dflt)
{
	char	   *s = opt_string(options, name, NULL);

	return s ? atoi(s) : dflt;
}

static void
check_is_hubspot_server(ForeignServer *server)
{
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);

	if (fdw->fdwhandler == InvalidOid ||
		strcmp(get_func_name(fdw->fdwhandler), "hubspot_fdw_handler") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_HANDLE),
				 errmsg("server \"%s\" is not a hubspot_fdw server",
						server->servername)));
}

HsServer *
hs_server_get(Oid serverid)
{
	ForeignServer *server = GetForeignServer(serverid);
	HsServer   *s = palloc0(sizeof(HsServer));
	char	   *url;
	int			len;

	check_is_hubspot_server(server);
	s->serverid = serverid;
	s->servername = pstrdup(server->servername);
	url = opt_string(server->options, "api_url", HS_DEFAULT_API_URL);
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	s->api_url = url;
	s->api_version = opt_string(server->options, "api_version", "v3");
	s->batch_size = opt_int(server->options, "batch_size", HS_MAX_BATCH_SIZE);
	s->max_concurrency = opt_int(server->options, "max_concurrency", 4);
	s->rate_limit = opt_int(server->options, "rate_limit", 100);
	s->timeout_ms = opt_int(server->options, "timeout_ms", 30000);
	s->max_attempts = opt_int(server->options, "max_attempts", 10);
	s->ca_file = opt_string(server->options, "ca_file", NULL);
	s->max_answer_bytes = (size_t) opt_int(server->options, "max_answer_bytes",
										   HS_DEFAULT_MAX_ANSWER_BYTES);
	/* options validated by an older release may still name plain http */
	check_plain_http(server->options);
	return s;
}

HsServer *
hs_server_get_by_name(const char *name)
{
	ForeignServer *server = GetForeignServerByName(name, false);
	AclResult	aclresult;

	aclresult = hs_foreign_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);
	return hs_server_get(server->serverid);
}

/*
 * The token of userid's mapping (or PUBLIC's).  Errors never include it.
 */
char *
hs_token_get(Oid serverid, Oid userid)
{
	UserMapping *um = GetUserMapping(userid, serverid);
	char	   *token = opt_string(um->options, "access_token", NULL);

	if (token == NULL)
	{
		char	   *role = GetUserNameFromId(userid, true);

		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("user mapping for \"%s\" on server \"%s\" has no access_token",
						role ? role : "public", GetForeignServer(serverid)->servername),
				 errhint("Use ALTER USER MAPPING ... OPTIONS (ADD access_token '...').")));
	}
	return token;
}

/*
 * Like hs_token_get but NULL instead of an error when there is no mapping
 * or no token: the worker must not die over one misconfigured server.
 */
char *
hs_token_find(Oid serverid, Oid userid)
{
	HeapTuple	tp;
	Datum		d;
	bool		isnull;
	char	   *token = NULL;

	tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid),
						 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
		return NULL;
	d = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp, Anum_pg_user_mapping_umoptions, &isnull);
	if (!isnull)
		token = opt_string(untransformRelOptions(d), "access_token", NULL);
	ReleaseSysCache(tp);
	return token;
}

HsTable *
hs_table_get(Oid relid)
{
	ForeignTable *ft = GetForeignTable(relid);
	HsTable    *t = palloc0(sizeof(HsTable));
	char	   *delivery;
	char	   *archived;

	t->relid = relid;
	t->object_type = opt_string(ft->options, "object_type", NULL);
	t->from_type = opt_string(ft->options, "from_type", NULL);
	t->to_type = opt_string(ft->options, "to_type", NULL);
	/* an association table: its rows are links of the "from/to" pair */
	if (t->object_type == NULL && t->from_type && t->to_type)
		t->object_type = psprintf("%s/%s", t->from_type, t->to_type);
	if (t->object_type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("foreign table \"%s\" has no object_type option",
						get_rel_name(relid))));
	t->id_property = opt_string(ft->options, "id_property", NULL);
	delivery = opt_string(ft->options, "delivery", "on_commit");
	t->delivery = strcmp(delivery, "immediate") == 0 ?
		HS_DELIVERY_IMMEDIATE : HS_DELIVERY_ON_COMMIT;
	archived = opt_string(ft->options, "archived", "false");
	t->archived = strcmp(archived, "true") == 0 ? HS_ARCHIVED_TRUE :
		strcmp(archived, "both") == 0 ? HS_ARCHIVED_BOTH : HS_ARCHIVED_FALSE;
	return t;
}

/* A column is the record id when it is named id or maps to hs_object_id. */
bool
hs_is_id_column(Oid relid, int attnum, const char *property)
{
	return strcmp(property, "hs_object_id") == 0 ||
		(strcmp(property, "id") == 0 && strcmp(get_attname(relid, attnum, false), "id") == 0);
}

/* An association table's column: its side (-1: none, 0 from, 1 to). */
int
hs_column_side(Oid relid, int attnum)
{
	char	   *side = opt_string(GetForeignColumnOptions(relid, attnum), "side", NULL);

	return side == NULL ? -1 : strcmp(side, "from") == 0 ? 0 : 1;
}

/*
 * Does the column carry read_only 'true'?  HubSpot computes or owns the
 * values of such properties, and would refuse a write only later, in the
 * worker, after the transaction that queued it has committed.
 */
bool
hs_column_read_only(Oid relid, int attnum)
{
	char	   *v = opt_string(GetForeignColumnOptions(relid, attnum), "read_only", NULL);
	bool		b = false;

	return v != NULL && parse_bool(v, &b) && b;
}

/*
 * IMPORT FOREIGN SCHEMA's own options.  Anything else is refused, as
 * postgres_fdw does: a misspelt option silently ignored would import
 * something other than what was asked for.
 */
void
hs_import_options(List *options, bool *include_readonly, bool *include_custom)
{
	ListCell   *lc;

	*include_readonly = true;
	*include_custom = true;
	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "include_readonly") == 0)
			*include_readonly = bool_option(def->defname, defGetString(def));
		else if (strcmp(def->defname, "include_custom") == 0)
			*include_custom = bool_option(def->defname, defGetString(def));
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 errhint("Valid options of IMPORT FOREIGN SCHEMA are: include_readonly, include_custom")));
	}
}

/* The HubSpot property a column maps to: its "property" option or its name. */
char *
hs_column_property(Oid relid, int attnum)
{
	List	   *options = GetForeignColumnOptions(relid, attnum);
	char	   *prop = opt_string(options, "property", NULL);

	return prop ? prop : get_attname(relid, attnum, false);
}
