/*-------------------------------------------------------------------------
 * import.h
 *		IMPORT FOREIGN SCHEMA crm: foreign tables from HubSpot's
 *		properties and schemas APIs.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_IMPORT_H
#define HUBSPOT_IMPORT_H

#include "nodes/parsenodes.h"
#include "options.h"

extern List *hsImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);
extern List *hs_property_names(HsServer *server, const char *token, const char *object_type);

#endif							/* HUBSPOT_IMPORT_H */
