/*-------------------------------------------------------------------------
 * compat.h
 *		Differences between the PostgreSQL majors hubspot_fdw builds on.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_COMPAT_H
#define HUBSPOT_COMPAT_H

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

/* 17: makeJsonLexContextCstringLen takes the context to fill first */
#if PG_VERSION_NUM >= 170000
#define hs_json_lex_context(text, len) \
	makeJsonLexContextCstringLen(NULL, (text), (len), GetDatabaseEncoding(), false)
#else
#define hs_json_lex_context(text, len) \
	makeJsonLexContextCstringLen((text), (len), GetDatabaseEncoding(), false)
#endif

#endif							/* HUBSPOT_COMPAT_H */
