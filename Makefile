# hubspot_fdw -- PGXS build
MODULE_big = hubspot_fdw
OBJS = hubspot_fdw.o \
	src/options.o src/convert.o src/http.o src/hubspot_api.o src/dispatch.o \
	src/ratelimit.o src/keys.o src/input.o src/resolve.o src/batch.o src/queue.o src/queue_write.o src/modify.o src/search.o src/scan.o \
	src/worker.o src/drain.o src/functions.o src/push.o src/import.o src/callworker.o src/assoc.o src/assoc_table.o

EXTENSION = hubspot_fdw
DATA = hubspot_fdw--0.1.sql hubspot_fdw--0.2.sql hubspot_fdw--0.1--0.2.sql
PGFILEDESC = "hubspot_fdw - write to HubSpot CRM with SQL"

PG_CPPFLAGS = -I$(srcdir)/src $(shell curl-config --cflags) -Wall -Wextra -Werror=implicit-function-declaration -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK += $(shell curl-config --libs)

REGRESS = options batch_functions bad_input queue push import semantics search join associations paging
REGRESS_OPTS = --temp-instance=$(CURDIR)/tmp_check_regress --temp-config=$(srcdir)/test/pg.conf --load-extension=hubspot_fdw
TAP_TESTS = 1

EXTRA_CLEAN = tmp_check_regress results regression.diffs regression.out log

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on every header: PGXS tracks no header dependencies
$(OBJS): $(wildcard $(srcdir)/src/*.h)
