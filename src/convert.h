/*-------------------------------------------------------------------------
 * convert.h
 *		PostgreSQL values to HubSpot property values, and back.
 *
 * HubSpot types every property value as a string: numbers as decimal
 * text, booleans "true"/"false", dates YYYY-MM-DD, datetimes ISO 8601 UTC
 * with milliseconds, multi-select values joined with ';', "" to clear.
 * The FDW, hubspot_push() and the batch functions all convert here.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_CONVERT_H
#define HUBSPOT_CONVERT_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define HS_MAX_VALUE_LEN	65536

typedef struct HsConverter
{
	Oid			typid;
	int			kind;
	FmgrInfo	out;			/* output function, or element's for arrays */
	Oid			elemtype;
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	int			elemkind;
} HsConverter;

extern void hs_converter_init(HsConverter *c, Oid typid);
extern char *hs_value_text(HsConverter *c, Datum d, const char *name);
/* A set of properties being built; a later value of a name replaces an earlier one. */
typedef struct HsProps
{
	int			n;
	int			cap;
	const char **names;
	const char **values;
} HsProps;

extern void hs_props_init(HsProps *p);
extern void hs_props_add(HsProps *p, const char *name, const char *value);
extern char *hs_props_text(HsProps *p);
extern Jsonb *hs_props_jsonb(HsProps *p);
extern void hs_props_add_jsonb(HsProps *p, JsonbContainer *obj, const char *what);
extern Datum hs_value_from_text(const char *text, Oid typid, int32 typmod,
								FmgrInfo *in, Oid ioparam);

#endif							/* HUBSPOT_CONVERT_H */
