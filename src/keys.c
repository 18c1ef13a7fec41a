/*-------------------------------------------------------------------------
 * keys.c
 *		How HubSpot compares record keys.
 *
 * Emails are folded with the C library's Unicode case mapping (the
 * C.UTF-8 locale, whatever the database's collation), because HubSpot
 * lowercases every letter, not only ASCII ones: "ÉVA@x.com" and
 * "éva@x.com" are one contact.  In a database whose encoding is not UTF-8
 * only ASCII letters can be folded, which is exact for the characters such
 * a database can hold in an email HubSpot accepts.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <locale.h>
#include <wctype.h>

#include "common/hashfn.h"
#include "mb/pg_wchar.h"

#include "keys.h"

static locale_t
unicode_locale(void)
{
	static locale_t loc = (locale_t) 0;
	static bool tried = false;

	if (!tried)
	{
		tried = true;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
		if (loc == (locale_t) 0)
			loc = newlocale(LC_CTYPE_MASK, "en_US.UTF-8", (locale_t) 0);
		if (loc == (locale_t) 0)
			ereport(WARNING,
					(errmsg("hubspot_fdw: no UTF-8 locale found, emails are compared with ASCII case folding only"),
					 errhint("Install the C.UTF-8 locale.")));
	}
	return loc;
}

bool
hs_key_folds_case(const char *id_property)
{
	return id_property != NULL && strcmp(id_property, "email") == 0;
}

static char *
fold_utf8(const char *s, size_t len, locale_t loc)
{
	pg_wchar   *w = palloc(sizeof(pg_wchar) * (len + 1));
	int			n = pg_encoding_mb2wchar_with_len(PG_UTF8, s, w, (int) len);
	char	   *out = palloc(len * 2 + 8);	/* lowercase may take more bytes */
	unsigned char *p = (unsigned char *) out;
	int			i;

	for (i = 0; i < n; i++)
	{
		pg_wchar	c = w[i];

		if (c >= 0x80)
			c = (pg_wchar) towlower_l((wint_t) c, loc);
		else
			c = pg_ascii_tolower((unsigned char) c);
		unicode_to_utf8(c, p);
		p += pg_utf_mblen(p);
	}
	*p = '\0';
	pfree(w);
	return out;
}

/* The value as HubSpot stores it under this property. */
char *
hs_key_fold(const char *id_property, const char *value)
{
	char	   *k;
	char	   *p;
	locale_t	loc;

	if (value == NULL)
		return NULL;
	if (!hs_key_folds_case(id_property))
		return pstrdup(value);
	if (GetDatabaseEncoding() == PG_UTF8 && (loc = unicode_locale()) != (locale_t) 0)
		return fold_utf8(value, strlen(value), loc);
	k = pstrdup(value);
	for (p = k; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	return k;
}

/* Identity of a record among keys of any property: "property\x1fvalue". */
char *
hs_record_key(const char *id_property, const char *id)
{
	if (id == NULL)
		return NULL;
	return psprintf("%s\x1f%s", id_property ? id_property : "",
					hs_key_fold(id_property, id));
}

bool
hs_key_equal(const char *id_property, const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return false;
	if (!hs_key_folds_case(id_property))
		return strcmp(a, b) == 0;
	return strcmp(hs_key_fold(id_property, a), hs_key_fold(id_property, b)) == 0;
}

static uint32
key_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static int
key_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

HTAB *
hs_key_table(const char *name, long nelem, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = entrysize;
	ctl.hash = key_hash;
	ctl.match = key_match;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, Max(nelem, 16), &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}
