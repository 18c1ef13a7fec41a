/*-------------------------------------------------------------------------
 * import.h
 *		IMPORT FOREIGN SCHEMA crm: foreign tables from HubSpot's
 *		properties API.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_IMPORT_H
#define HUBSPOT_IMPORT_H

#include "nodes/parsenodes.h"

extern List *hsImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);

#endif							/* HUBSPOT_IMPORT_H */
