/*-------------------------------------------------------------------------
 * ratelimit.c
 *		One call budget per HubSpot app and one pause state per foreign
 *		server, shared by every backend and worker.
 *
 * HubSpot counts calls per app, that is per token: every user mapping that
 * holds one token, on any server of any database, draws on one budget
 * (found by a hash of the token, never the token).  The budget is an exact
 * sliding window: the start times of the last calls are kept in a ring,
 * and a call may start when the call K places back (K = the allowed calls
 * per window) is older than the window.  HubSpot's X-HubSpot-RateLimit-*
 * headers correct the window length and K; without them the server's
 * rate_limit option (per 10 s) rules.  Pauses belong to a server (daily
 * limit, backoff) or to a token on a server (auth).
 *
 * Without shared_preload_libraries the state is process-local, which is
 * still right for one backend's synchronous calls.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "ratelimit.h"

#define HS_MAX_SERVERS		64
#define HS_MAX_BUDGETS		64
#define HS_RING				512
#define HS_DEFAULT_WINDOW	10000
#define HS_MAX_AUTH			8

/* A token HubSpot refused: its user mappings' rows wait until it changes. */
typedef struct HsAuthPause
{
	uint32		token;			/* hash of the token, 0: free */
	TimestampTz since;
	char		error[256];
} HsAuthPause;

/* One HubSpot app's call budget. */
typedef struct HsBudget
{
	uint32		token;			/* hash of the token, 0: free */
	int			window_ms;		/* HubSpot's interval, default 10 s */
	int			hs_max;			/* HubSpot's max per window, -1 unknown */
	int			hs_remaining;
	long		hs_daily_remaining;
	int			last_k;			/* calls per window as last computed */
	TimestampTz blocked_until;	/* no call before this */
	TimestampTz daily_until;	/* daily limit used up until */
	TimestampTz last_used;
	int			head;
	int			count;
	TimestampTz ring[HS_RING];
} HsBudget;

/* One server's pauses. */
typedef struct HsSlot
{
	Oid			dbid;
	Oid			serverid;
	TimestampTz paused_until;	/* pause: see pause_kind */
	HsPauseKind pause_kind;		/* DAILY or BACKOFF: every token */
	HsAuthPause auth[HS_MAX_AUTH];	/* AUTH: per token, never a date */
	uint32		last_token;		/* the budget it drew on last */
	int			failures;		/* consecutive transient failures */
	char		last_error[512];
	TimestampTz last_used;
} HsSlot;

typedef struct HsShared
{
	LWLock	   *lock;
	HsSlot		slots[HS_MAX_SERVERS];
	HsBudget	budgets[HS_MAX_BUDGETS];
} HsShared;

static HsShared *shared = NULL;
static HsShared *local = NULL;

Size
hs_ratelimit_shmem_size(void)
{
	return MAXALIGN(sizeof(HsShared));
}

void
hs_ratelimit_shmem_init(void)
{
	bool		found;

	shared = ShmemInitStruct("hubspot_fdw rate limits", sizeof(HsShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(HsShared));
		shared->lock = &(GetNamedLWLockTranche("hubspot_fdw_ratelimit"))->lock;
	}
}

static HsShared *
state(void)
{
	if (shared)
		return shared;
	if (local == NULL)
		local = MemoryContextAllocZero(TopMemoryContext, sizeof(HsShared));
	return local;
}

static void
lock(HsShared *s)
{
	if (s == shared)
		LWLockAcquire(s->lock, LW_EXCLUSIVE);
}

static void
unlock(HsShared *s)
{
	if (s == shared)
		LWLockRelease(s->lock);
}

/* Caller holds the lock. */
static HsSlot *
slot_for(HsShared *s, Oid serverid)
{
	HsSlot	   *free_slot = NULL;
	int			i;

	for (i = 0; i < HS_MAX_SERVERS; i++)
	{
		HsSlot	   *sl = &s->slots[i];

		if (sl->serverid == serverid && sl->dbid == MyDatabaseId)
		{
			sl->last_used = GetCurrentTimestamp();
			return sl;
		}
		if (sl->serverid == InvalidOid && free_slot == NULL)
			free_slot = sl;
	}
	if (free_slot == NULL)
	{
		/* reuse the slot idle longest */
		free_slot = &s->slots[0];
		for (i = 1; i < HS_MAX_SERVERS; i++)
			if (s->slots[i].last_used < free_slot->last_used)
				free_slot = &s->slots[i];
	}
	memset(free_slot, 0, sizeof(HsSlot));
	free_slot->dbid = MyDatabaseId;
	free_slot->serverid = serverid;
	free_slot->last_used = GetCurrentTimestamp();
	return free_slot;
}

/* Caller holds the lock. */
static HsBudget *
budget_for(HsShared *s, uint32 token)
{
	HsBudget   *free_b = NULL;
	int			i;

	if (token == 0)				/* 0 marks a free budget */
		token = 1;
	for (i = 0; i < HS_MAX_BUDGETS; i++)
	{
		HsBudget   *b = &s->budgets[i];

		if (b->token == token)
			return b;
		if (b->token == 0 && free_b == NULL)
			free_b = b;
	}
	if (free_b == NULL)
	{
		/* reuse the budget idle longest: its window is long past */
		free_b = &s->budgets[0];
		for (i = 1; i < HS_MAX_BUDGETS; i++)
			if (s->budgets[i].last_used < free_b->last_used)
				free_b = &s->budgets[i];
	}
	memset(free_b, 0, sizeof(HsBudget));
	free_b->token = token;
	free_b->window_ms = HS_DEFAULT_WINDOW;
	free_b->hs_max = -1;
	free_b->hs_remaining = -1;
	free_b->hs_daily_remaining = -1;
	return free_b;
}

/*
 * Calls per window (k) and the window, from rate_limit (calls per 10 s)
 * and what HubSpot said.
 */
static void
budget(HsBudget *b, int rate_limit, int *k, long *window_ms)
{
	double		w = b->window_ms;
	double		max = (double) rate_limit * w / HS_DEFAULT_WINDOW;

	if (b->hs_max > 0 && b->hs_max < max)
		max = b->hs_max;
	if (max < 1)
	{
		/* fewer than one call per window: stretch the window instead */
		w = w / max;
		max = 1;
	}
	if (max > HS_RING)
	{
		w = w * HS_RING / max;
		max = HS_RING;
	}
	*k = (int) max;
	b->last_k = *k;
	/* a margin for the time a request takes to reach HubSpot */
	*window_ms = (long) (w + w / 50);
}

/* Caller holds the lock: how long until the next call may start (0: now). */
static long
budget_wait(HsBudget *b, int rate_limit, TimestampTz now)
{
	int			k;
	long		window;

	budget(b, rate_limit, &k, &window);
	if (b->daily_until > now)
		return (long) ((b->daily_until - now) / 1000) + 1;
	if (b->blocked_until > now)
		return (long) ((b->blocked_until - now) / 1000) + 1;
	if (b->count >= k)
	{
		TimestampTz oldest = b->ring[(b->head + HS_RING - k) % HS_RING];
		TimestampTz free_at = oldest + (TimestampTz) window * 1000;

		if (free_at > now)
			return (long) ((free_at - now) / 1000) + 1;
	}
	return 0;
}

long
hs_ratelimit_wait(uint32 token, int rate_limit)
{
	HsShared   *s = state();
	long		wait;

	lock(s);
	wait = budget_wait(budget_for(s, token), rate_limit, GetCurrentTimestamp());
	unlock(s);
	return wait;
}

/* Caller holds the lock: take a call from b's window if one is free now. */
static bool
take_call(HsBudget *b, int rate_limit, TimestampTz now, long *wait_ms)
{
	*wait_ms = budget_wait(b, rate_limit, now);
	if (*wait_ms != 0)
		return false;
	b->ring[b->head] = now;
	b->head = (b->head + 1) % HS_RING;
	b->count = Min(b->count + 1, HS_RING);
	b->last_used = now;
	return true;
}

bool
hs_ratelimit_acquire(Oid serverid, uint32 token, int rate_limit, long *wait_ms)
{
	HsShared   *s = state();
	TimestampTz now = GetCurrentTimestamp();
	HsBudget   *b;
	bool		ok;

	lock(s);
	b = budget_for(s, token);
	ok = take_call(b, rate_limit, now, wait_ms);
	if (ok)
		slot_for(s, serverid)->last_token = b->token;
	unlock(s);
	return ok;
}

/*
 * The search endpoint's own budget: HubSpot allows an account five searches
 * a second, apart from the ten-second window, and sends no rate headers.
 */
#define HS_SEARCH_SALT		0x5ea4c401
#define HS_SEARCH_PER_10S	50

bool
hs_ratelimit_acquire_search(uint32 token, long *wait_ms)
{
	HsShared   *s = state();
	TimestampTz now = GetCurrentTimestamp();
	HsBudget   *b;
	bool		ok;

	lock(s);
	b = budget_for(s, token ^ HS_SEARCH_SALT);
	b->window_ms = 1000;
	ok = take_call(b, HS_SEARCH_PER_10S, now, wait_ms);
	unlock(s);
	return ok;
}

/* Caller holds the lock. */
static int
calls_in_window(HsBudget *b, TimestampTz now)
{
	int			n = 0;
	int			j;

	for (j = 0; j < b->count; j++)
		if (now - b->ring[(b->head + HS_RING - 1 - j) % HS_RING] <
			(TimestampTz) b->window_ms * 1000)
			n++;
		else
			break;
	return n;
}

void
hs_ratelimit_observe(uint32 token, const HsRateHeaders *h)
{
	HsShared   *s = state();
	TimestampTz now = GetCurrentTimestamp();
	HsBudget   *b;

	if (h->max < 0 && h->interval_ms < 0 && h->daily_remaining < 0 && h->remaining < 0)
		return;
	lock(s);
	b = budget_for(s, token);
	if (h->interval_ms > 0)
		b->window_ms = h->interval_ms;
	if (h->max > 0)
		b->hs_max = h->max;
	b->hs_remaining = h->remaining;
	if (h->daily_remaining >= 0)
		b->hs_daily_remaining = h->daily_remaining;

	/*
	 * Others may share the app's window: when HubSpot says none is left while
	 * our own count says plenty is, hold back a tenth of the window.
	 */
	if (h->remaining == 0 && b->hs_max > 0 &&
		calls_in_window(b, now) < b->hs_max * 9 / 10)
		b->blocked_until = Max(b->blocked_until,
							   now + (TimestampTz) b->window_ms * 100);
	if (h->daily_remaining == 0)
		b->daily_until = now + (TimestampTz) hs_ms_until_daily_reset() * 1000;
	unlock(s);
}

/*
 * HubSpot resets the daily limit at midnight in the account's time zone,
 * which we do not know: midnight UTC, plus a second.
 */
long
hs_ms_until_daily_reset(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = now - (now % USECS_PER_DAY) + USECS_PER_DAY;

	return (long) ((next - now) / 1000) + 1000;
}

/* A 429 for the rolling window: nothing starts until a slot is surely free. */
void
hs_ratelimit_limited(uint32 token, const char *policy, long wait_ms)
{
	HsShared   *s = state();
	TimestampTz now = GetCurrentTimestamp();
	HsBudget   *b;
	long		ms = wait_ms;

	lock(s);
	b = budget_for(s, token);
	if (ms < 0)
	{
		if (policy && strcmp(policy, "SECONDLY") == 0)
			ms = 1000;
		else
			ms = b->window_ms / 10;
	}
	b->blocked_until = Max(b->blocked_until, now + (TimestampTz) ms * 1000);
	unlock(s);
}

/* The budget as the status views show it. */
void
hs_ratelimit_figures(uint32 token, int rate_limit, HsBudgetFigures *f)
{
	HsShared   *s = state();
	TimestampTz now = GetCurrentTimestamp();
	HsBudget   *b;
	long		window;
	long		wait;

	lock(s);
	b = budget_for(s, token);
	budget(b, rate_limit, &f->calls_per_window, &window);
	f->window_ms = b->window_ms;
	f->used = calls_in_window(b, now);
	wait = budget_wait(b, rate_limit, now);
	f->next_free = now + (TimestampTz) wait * 1000;
	f->hs_max = b->hs_max;
	f->hs_remaining = b->hs_remaining;
	f->hs_daily_remaining = b->hs_daily_remaining;
	f->daily_until = b->daily_until > now ? b->daily_until : 0;
	unlock(s);
}

uint32
hs_token_hash(const char *token)
{
	return token ? hash_bytes((const unsigned char *) token, strlen(token)) : 0;
}

/* Caller holds the lock. */
static HsAuthPause *
auth_pause(HsSlot *sl, uint32 token_hash)
{
	int			i;

	for (i = 0; i < HS_MAX_AUTH; i++)
		if (sl->auth[i].token != 0 && sl->auth[i].token == token_hash)
			return &sl->auth[i];
	return NULL;
}

/*
 * May calls with this token go to the server?  An auth pause belongs to one
 * token (so to the user mappings that hold it): it ends as soon as the
 * mapping's token changes, and other tokens' calls go on meanwhile.  The
 * daily limit and backoff after failures hold the whole server; backoff
 * only the worker's calls (backoff_too): a synchronous caller asked to
 * send now, and retries by itself.
 */
bool
hs_server_paused(Oid serverid, uint32 token_hash, bool backoff_too, long *wait_ms)
{
	HsShared   *s = state();
	TimestampTz now = GetCurrentTimestamp();
	HsSlot	   *sl;
	bool		paused = false;

	lock(s);
	sl = slot_for(s, serverid);
	if (token_hash != 0 && auth_pause(sl, token_hash) != NULL)
	{
		paused = true;
		*wait_ms = LONG_MAX / 2;
	}
	else
	{
		if (sl->pause_kind != HS_PAUSE_NONE && sl->paused_until <= now)
			sl->pause_kind = HS_PAUSE_NONE;
		if (sl->pause_kind != HS_PAUSE_NONE &&
			(backoff_too || sl->pause_kind != HS_PAUSE_BACKOFF))
		{
			paused = true;
			*wait_ms = (long) ((sl->paused_until - now) / 1000);
		}
	}
	unlock(s);
	return paused;
}

void
hs_server_pause(Oid serverid, HsPauseKind kind, long ms, uint32 token_hash,
				const char *error)
{
	HsShared   *s = state();
	HsSlot	   *sl;

	lock(s);
	sl = slot_for(s, serverid);
	if (kind == HS_PAUSE_AUTH)
	{
		HsAuthPause *a = auth_pause(sl, token_hash);
		int			i;

		for (i = 0; a == NULL && i < HS_MAX_AUTH; i++)
			if (sl->auth[i].token == 0)
				a = &sl->auth[i];
		/* full: the oldest pause gives way (its rows will fail once more) */
		for (i = 0; a == NULL && i < HS_MAX_AUTH; i++)
			if (a == NULL || sl->auth[i].since < a->since)
				a = &sl->auth[i];
		a->token = token_hash;
		a->since = GetCurrentTimestamp();
		strlcpy(a->error, error ? error : "", sizeof(a->error));
	}
	else
	{
		sl->pause_kind = kind;
		sl->paused_until = GetCurrentTimestamp() + (TimestampTz) ms * 1000;
		if (error)
			strlcpy(sl->last_error, error, sizeof(sl->last_error));
	}
	unlock(s);
}

/* The auth error of a paused token, into buf; false if it is not paused. */
bool
hs_server_auth_error(Oid serverid, uint32 token_hash, char *buf, size_t len)
{
	HsShared   *s = state();
	HsAuthPause *a;

	lock(s);
	a = auth_pause(slot_for(s, serverid), token_hash);
	if (a)
		strlcpy(buf, a->error, len);
	unlock(s);
	return a != NULL;
}

/* Forget the auth pauses of tokens no user mapping holds any more. */
void
hs_server_forget_auth(Oid serverid, uint32 *live, int nlive)
{
	HsShared   *s = state();
	HsSlot	   *sl;
	int			i,
				j;

	lock(s);
	sl = slot_for(s, serverid);
	for (i = 0; i < HS_MAX_AUTH; i++)
	{
		bool		held = false;

		for (j = 0; j < nlive && !held; j++)
			held = sl->auth[i].token == live[j];
		if (!held)
			sl->auth[i].token = 0;
	}
	unlock(s);
}

/* Transient failure: pause the server 0.5 s, 1 s, 2 s ... 5 min, with jitter. */
void
hs_server_backoff(Oid serverid, int max_attempts, const char *error)
{
	HsShared   *s = state();
	HsSlot	   *sl;
	long		ms;

	lock(s);
	sl = slot_for(s, serverid);
	sl->failures++;
	ms = 500L << Min(sl->failures - 1, 10);
	ms = Min(ms, 300000L);
	ms = ms / 2 + (long) (random() % (ms / 2 + 1));
	sl->pause_kind = HS_PAUSE_BACKOFF;
	sl->paused_until = GetCurrentTimestamp() + (TimestampTz) ms * 1000;
	if (error)
		strlcpy(sl->last_error, error, sizeof(sl->last_error));
	unlock(s);
}

void
hs_server_ok(Oid serverid)
{
	HsShared   *s = state();
	HsSlot	   *sl;

	lock(s);
	sl = slot_for(s, serverid);
	sl->failures = 0;
	if (sl->pause_kind == HS_PAUSE_BACKOFF)
	{
		sl->pause_kind = HS_PAUSE_NONE;
		/* a resolved error is not the server's state any more */
		sl->last_error[0] = '\0';
	}
	unlock(s);
}

/* Consecutive calls to the server that got no usable answer. */
int
hs_server_failures(Oid serverid)
{
	HsShared   *s = state();
	int			n;

	lock(s);
	n = slot_for(s, serverid)->failures;
	unlock(s);
	return n;
}

int
hs_server_states(HsServerState *out, int max)
{
	HsShared   *s = state();
	TimestampTz now = GetCurrentTimestamp();
	int			n = 0;
	int			i;

	lock(s);
	for (i = 0; i < HS_MAX_SERVERS && n < max; i++)
	{
		HsSlot	   *sl = &s->slots[i];
		HsServerState *o = &out[n];

		if (sl->serverid == InvalidOid || sl->dbid != MyDatabaseId)
			continue;
		o->serverid = sl->serverid;
		o->pause_kind = sl->pause_kind;
		if (sl->paused_until <= now)
			o->pause_kind = HS_PAUSE_NONE;
		o->nauth = 0;
		for (int k = 0; k < HS_MAX_AUTH; k++)
			if (sl->auth[k].token != 0)
				o->auth_tokens[o->nauth++] = sl->auth[k].token;
		o->paused_until = o->pause_kind == HS_PAUSE_NONE ? 0 : sl->paused_until;
		strlcpy(o->last_error, sl->last_error, sizeof(o->last_error));
		o->last_token = sl->last_token;
		n++;
	}
	unlock(s);
	return n;
}
