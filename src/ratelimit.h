/*-------------------------------------------------------------------------
 * ratelimit.h
 *		One call budget and one pause state per foreign server, in shared
 *		memory, used by every sender of every backend and worker.
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
	int			budget_used;	/* calls started in the current window */
	int			budget_max;
	int			hs_remaining;	/* HubSpot's figure, -1 unknown */
	long		hs_daily_remaining;
} HsServerState;

extern Size hs_ratelimit_shmem_size(void);
extern void hs_ratelimit_shmem_init(void);

extern bool hs_ratelimit_acquire(Oid serverid, int rate_limit, long *wait_ms);
extern long hs_ratelimit_wait(Oid serverid, int rate_limit);
extern void hs_ratelimit_observe(Oid serverid, const HsRateHeaders *h);
extern void hs_ratelimit_limited(Oid serverid, const char *policy, long wait_ms);

extern bool hs_server_paused(Oid serverid, uint32 token_hash, long *wait_ms);
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
