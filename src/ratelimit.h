/*-------------------------------------------------------------------------
 * ratelimit.h
 *		One call budget per HubSpot app (token) and one pause state per
 *		foreign server, in shared memory, used by every sender of every
 *		backend and worker.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_RATELIMIT_H
#define HUBSPOT_RATELIMIT_H

#include "datatype/timestamp.h"
#include "http.h"

typedef enum HsPauseKind
{
	HS_PAUSE_NONE,
	HS_PAUSE_AUTH,				/* one token, until its user mappings change it */
	HS_PAUSE_DAILY,				/* until the daily reset */
	HS_PAUSE_BACKOFF			/* after transient failures */
} HsPauseKind;

typedef struct HsServerState
{
	Oid			serverid;
	TimestampTz paused_until;	/* 0: not paused (auth pauses: far future) */
	HsPauseKind pause_kind;		/* DAILY or BACKOFF (whole server) */
	int			nauth;			/* tokens paused for auth */
	uint32		auth_tokens[8];
	char		last_error[512];
	uint32		last_token;		/* the budget it drew on last, 0: none yet */
} HsServerState;

/* One app's budget, for the status views. */
typedef struct HsBudgetFigures
{
	int			calls_per_window;	/* what we allow ourselves */
	int			window_ms;
	int			used;			/* calls started in the current window */
	TimestampTz next_free;		/* when the next call may start */
	int			hs_max;			/* HubSpot's last figures, -1 unknown */
	int			hs_remaining;
	long		hs_daily_remaining;
	TimestampTz daily_until;	/* 0: the daily limit is not used up */
} HsBudgetFigures;

extern Size hs_ratelimit_shmem_size(void);
extern void hs_ratelimit_shmem_init(void);

extern bool hs_ratelimit_acquire(Oid serverid, uint32 token, int rate_limit, long *wait_ms);
extern long hs_ratelimit_wait(uint32 token, int rate_limit);
extern bool hs_ratelimit_acquire_search(uint32 token, long *wait_ms);
extern void hs_ratelimit_observe(uint32 token, const HsRateHeaders *h);
extern void hs_ratelimit_limited(uint32 token, const char *policy, long wait_ms);
extern void hs_ratelimit_figures(uint32 token, int rate_limit, HsBudgetFigures *f);

extern bool hs_server_paused(Oid serverid, uint32 token_hash, bool backoff_too, long *wait_ms);
extern void hs_server_pause(Oid serverid, HsPauseKind kind, long ms,
							uint32 token_hash, const char *error);
extern bool hs_server_auth_error(Oid serverid, uint32 token_hash, char *buf, size_t len);
extern void hs_server_forget_auth(Oid serverid, uint32 *live, int nlive);
extern void hs_server_backoff(Oid serverid, int max_attempts, const char *error);
extern void hs_server_ok(Oid serverid);
extern int	hs_server_failures(Oid serverid);
extern int	hs_server_states(HsServerState *out, int max);
extern uint32 hs_token_hash(const char *token);
extern long hs_ms_until_daily_reset(void);

#endif							/* HUBSPOT_RATELIMIT_H */
