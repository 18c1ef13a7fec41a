/*-------------------------------------------------------------------------
 * keys.h
 *		How HubSpot compares record keys: the one rule every caller uses.
 *
 * A record key is a record id or a value of a unique property.  HubSpot
 * stores emails lowercased (all of Unicode, not only ASCII), so two
 * spellings of one address name one record; every other key compares
 * exactly.  Keys are never truncated.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_KEYS_H
#define HUBSPOT_KEYS_H

extern bool hs_key_folds_case(const char *id_property);
extern char *hs_key_fold(const char *id_property, const char *value);
extern char *hs_record_key(const char *id_property, const char *id);
extern bool hs_key_equal(const char *id_property, const char *a, const char *b);

/*
 * A hash table keyed by whole key strings of any length: an entry starts
 * with its char * key (the caller keeps the string alive).
 */
#include "utils/hsearch.h"
extern HTAB *hs_key_table(const char *name, long nelem, Size entrysize);

#endif							/* HUBSPOT_KEYS_H */
