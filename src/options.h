/*-------------------------------------------------------------------------
 * options.h
 *		Option validation and lookup for hubspot_fdw servers, user mappings,
 *		foreign tables and columns.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_OPTIONS_H
#define HUBSPOT_OPTIONS_H

#include "nodes/pg_list.h"

#define HS_DEFAULT_API_URL		"https://api.hubapi.com"
#define HS_MAX_BATCH_SIZE		100
#define HS_DEFAULT_MAX_ANSWER_BYTES	(64 * 1024 * 1024)

typedef enum HsDelivery
{
	HS_DELIVERY_ON_COMMIT,
	HS_DELIVERY_IMMEDIATE
} HsDelivery;

/* Everything a sender needs to know about one foreign server. */
typedef struct HsServer
{
	Oid			serverid;
	char	   *servername;
	char	   *api_url;		/* without trailing slash */
	char	   *api_version;	/* "v3" or "YYYY-MM" */
	int			batch_size;
	int			max_concurrency;
	int			rate_limit;		/* calls per 10 s */
	int			timeout_ms;
	int			max_attempts;
	char	   *ca_file;		/* NULL: the system's CA bundle */
	size_t		max_answer_bytes;
} HsServer;

/* Which records SELECT reads: live ones, archived ones, or both. */
typedef enum HsArchived
{
	HS_ARCHIVED_FALSE,
	HS_ARCHIVED_TRUE,
	HS_ARCHIVED_BOTH
} HsArchived;

typedef struct HsTable
{
	Oid			relid;
	char	   *object_type;
	char	   *id_property;	/* NULL: INSERT creates */
	HsDelivery	delivery;
	HsArchived	archived;
	char	   *from_type;		/* association tables: the pair, */
	char	   *to_type;		/* and object_type is "from/to" */
} HsTable;

#define HS_TABLE_IS_ASSOC(t) ((t)->from_type != NULL)

extern void hs_validate_options(List *options, Oid catalog);
extern HsServer *hs_server_get(Oid serverid);
extern HsServer *hs_server_get_by_name(const char *name);
extern char *hs_token_get(Oid serverid, Oid userid);
extern char *hs_token_find(Oid serverid, Oid userid);
extern HsTable *hs_table_get(Oid relid);
extern char *hs_column_property(Oid relid, int attnum);
extern int	hs_column_side(Oid relid, int attnum);
extern bool hs_is_id_column(Oid relid, int attnum, const char *property);
extern bool hs_column_read_only(Oid relid, int attnum);
extern void hs_import_options(List *options, bool *include_readonly, bool *include_custom);
extern void hs_check_object_type(const char *object_type);
extern void hs_check_property_name(const char *what, const char *name);

#endif							/* HUBSPOT_OPTIONS_H */
