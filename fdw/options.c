/*-------------------------------------------------------------------------
 *
 * options.c
 *		  The options of pg_meminfo_fdw: their validator, so mistakes fail at
 *		  CREATE or ALTER rather than at SELECT, and how a scan resolves them.
 *
 * Server options:
 *		socket	absolute path of the sidecar's socket; by default
 *				<first unix_socket_directories entry>/.s.PGMEMINFO.<port>/sidecar.sock
 *		timeout	seconds to wait for the sidecar to answer (default 10)
 *		max_response_size	the most bytes of rows accepted from the sidecar in one
 *				scan, a number of bytes or with a unit (default 1GB)
 * Foreign table options:
 *		source	"smaps" (one row per mapping), "summary" (one per process),
 *				"by_kind" (one per process and kind of memory), "contexts"
 *				(one per memory context of the backends a query names) or
 *				"limits" (one row: the memory limits of the cluster) or
 *				"history" (one row per sample of a process's memory); "kind"
 *				is its name in extension version 1.0, still accepted
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/un.h>

#include "access/reloptions.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "pg_meminfo.h"

PG_FUNCTION_INFO_V1(pg_meminfo_fdw_validator);

/* A valid option and the catalog of the objects it may be set on. */
struct MeminfoOption
{
	const char *optname;		/* option name */
	Oid			optcontext;		/* ForeignServerRelationId, ... */
	bool		legacy;			/* accepted, but not offered in hints */
};

/* Every valid option; the NULL entry ends the table. */
static const struct MeminfoOption valid_options[] = {
	{"socket", ForeignServerRelationId, false},
	{"timeout", ForeignServerRelationId, false},
	{"max_response_size", ForeignServerRelationId, false},
	{"source", ForeignTableRelationId, false},
	{"kind", ForeignTableRelationId, true},	/* "source" in extension 1.0 */
	{NULL, InvalidOid, false}
};

/* Is "name" an option that objects of catalog "context" may have? */
static bool
is_valid_option(const char *name, Oid context)
{
	const struct MeminfoOption *opt;

	for (opt = valid_options; opt->optname; opt++)
		if (context == opt->optcontext && strcmp(opt->optname, name) == 0)
			return true;
	return false;
}

/*
 * Raise the error for option "name", which objects of catalog "context" may
 * not have, with a hint listing those they may.
 */
static void
report_invalid_option(const char *name, Oid context)
{
	const struct MeminfoOption *opt;
	StringInfoData names;

	initStringInfo(&names);
	for (opt = valid_options; opt->optname; opt++)
		if (context == opt->optcontext && !opt->legacy)
			appendStringInfo(&names, "%s%s", names.len > 0 ? ", " : "", opt->optname);

	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid option \"%s\"", name),
			 names.len > 0
			 ? errhint("Valid options in this context are: %s.", names.data)
			 : errhint("There are no valid options in this context.")));
}

/* Is "name" the option that says where a table's rows come from? */
static bool
is_source_option(const char *name)
{
	return strcmp(name, "source") == 0 || strcmp(name, "kind") == 0;
}

/* The source named by a "source" option; an unknown one is an error. */
static MeminfoSource
parse_source(const char *value)
{
	if (strcmp(value, "smaps") == 0)
		return MEMINFO_SOURCE_SMAPS;
	if (strcmp(value, "summary") == 0)
		return MEMINFO_SOURCE_SUMMARY;
	if (strcmp(value, "by_kind") == 0)
		return MEMINFO_SOURCE_BY_KIND;
	if (strcmp(value, "contexts") == 0)
		return MEMINFO_SOURCE_CONTEXTS;
	if (strcmp(value, "limits") == 0)
		return MEMINFO_SOURCE_LIMITS;
	if (strcmp(value, "history") == 0)
		return MEMINFO_SOURCE_HISTORY;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"source\": \"%s\"", value),
			 errhint("Valid values are \"smaps\" (one row per mapping), \"summary\" (one row per process), \"by_kind\" (one row per process and kind of memory), \"contexts\" (one row per memory context of a backend), \"limits\" (one row: the memory limits of the cluster) and \"history\" (one row per sample of a process's memory).")));
	return MEMINFO_SOURCE_SMAPS;	/* keep compiler quiet */
}

/*
 * The longest "timeout" accepted, in seconds: one day.  A wait that long is
 * a mistake, and a day in ms still fits an int.
 */
#define MAX_TIMEOUT_SECONDS 86400

/*
 * The shortest "timeout" accepted: a tenth of a second.  Below that, a sidecar
 * under any load cannot even answer, so every scan would fail.
 */
#define MIN_TIMEOUT_SECONDS 0.1

/*
 * The "timeout" option, a number of seconds in plain decimal digits that may
 * have a fraction, in ms, rounded up.  Anything else, or a value out of
 * [MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS], is an error.
 */
static int
parse_timeout_ms(const char *value)
{
	const char *p = value;
	char	   *end;
	double		seconds;

	/* Plain decimal only: no blanks, signs, exponents, hex, inf or nan. */
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.')
	{
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	errno = 0;
	seconds = strtod(value, &end);
	if (p == value || *p != '\0' || errno != 0 || end != p ||
		seconds < MIN_TIMEOUT_SECONDS || seconds > MAX_TIMEOUT_SECONDS)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"timeout\": \"%s\"", value),
				 errhint("Give a number of seconds from 0.1 to 86400, in plain decimal digits, such as '10' or '0.5'.")));
	return (int) ceil(seconds * 1000);
}

/*
 * Largest accepted max_response_size: 1TB, far beyond the memory maps of any
 * cluster, so a typo in the unit is caught rather than obeyed.
 */
#define MAX_RESPONSE_SIZE_LIMIT (INT64CONST(1) << 40)

/*
 * The "max_response_size" option in bytes: a number, with or without one
 * of the memory units of GUCs (B, kB, MB, GB, TB).  Anything else, or a
 * value out of [1, MAX_RESPONSE_SIZE_LIMIT], is an error.
 */
static int64
parse_max_response_size(const char *value)
{
	double		bytes;
	const char *unit_hint = NULL;

	if (!parse_real(value, &bytes, GUC_UNIT_BYTE, &unit_hint) || isnan(bytes) ||
		bytes < 1 || bytes > (double) MAX_RESPONSE_SIZE_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"max_response_size\": \"%s\"", value),
				 errhint("Give a number of bytes from 1 to 1TB, optionally with a unit (B, kB, MB, GB or TB), such as '256MB'.")));
	return (int64) floor(bytes);
}

/*
 * Check a "socket" option: an absolute path that fits a Unix socket
 * address.  Raises an error otherwise; whether anything listens there is
 * only known at connect time.
 */
static void
check_socket_path(const char *value)
{
	struct sockaddr_un addr;

	if (value[0] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"socket\": \"%s\"", value),
				 errhint("Give the absolute path of the sidecar's socket file.")));
	if (strlen(value) >= sizeof(addr.sun_path))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"socket\": path is too long"),
				 errdetail("Unix socket paths are limited to %d bytes.",
						   (int) sizeof(addr.sun_path) - 1)));
}

/*
 * Validate the options given to a pg_meminfo_fdw object.  Called for every
 * CREATE and ALTER of the wrapper, server, user mapping and foreign table.
 */
Datum
pg_meminfo_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options_list = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *cell;
	bool		have_source = false;
	bool		have_socket = false;
	bool		have_timeout = false;
	bool		have_max_response_size = false;

	foreach(cell, options_list)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		bool	   *seen;

		if (!is_valid_option(def->defname, catalog))
			report_invalid_option(def->defname, catalog);

		if (is_source_option(def->defname))
			seen = &have_source;
		else if (strcmp(def->defname, "socket") == 0)
			seen = &have_socket;
		else if (strcmp(def->defname, "max_response_size") == 0)
			seen = &have_max_response_size;
		else
			seen = &have_timeout;
		if (*seen)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("conflicting or redundant options"),
					 errdetail("Option \"%s\" is given more than once.", def->defname)));
		*seen = true;

		if (is_source_option(def->defname))
			(void) parse_source(defGetString(def));
		else if (strcmp(def->defname, "socket") == 0)
			check_socket_path(defGetString(def));
		else if (strcmp(def->defname, "max_response_size") == 0)
			(void) parse_max_response_size(defGetString(def));
		else
			(void) parse_timeout_ms(defGetString(def));
	}

	if (catalog == ForeignTableRelationId && !have_source)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"source\" is required for a pg_meminfo foreign table"),
				 errhint("Add OPTIONS (source 'smaps') for one row per mapping, OPTIONS (source 'summary') for one row per process, or OPTIONS (source 'by_kind') for one row per process and kind of memory.")));

	PG_RETURN_VOID();
}

/*
 * The default socket path, palloc'd, derived from the cluster's own
 * settings exactly as the sidecar derives it (docs/protocol.md, "Where the
 * socket is").  An empty unix_socket_directories is an error.
 */
static char *
default_socket_path(void)
{
	char	   *rawstring = pstrdup(Unix_socket_directories ? Unix_socket_directories : "");
	List	   *dirs;
	char	   *dir;
	char	   *path;

	if (!SplitDirectoriesString(rawstring, ',', &dirs) || dirs == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("cannot derive the pg_meminfo sidecar socket path"),
				 errdetail("unix_socket_directories is empty."),
				 errhint("Set the socket path with ALTER SERVER pg_meminfo OPTIONS (ADD socket '/path/to/socket').")));
	dir = (char *) linitial(dirs);
	if (is_absolute_path(dir))
		path = psprintf("%s/.s.PGMEMINFO.%d/sidecar.sock", dir, PostPortNumber);
	else
		path = psprintf("%s/%s/.s.PGMEMINFO.%d/sidecar.sock", DataDir, dir, PostPortNumber);
	return path;
}

/* The path of the sidecar resource that serves a source's rows. */
const char *
meminfo_source_path(MeminfoSource source)
{
	switch (source)
	{
		case MEMINFO_SOURCE_SMAPS:
			return "/v1/smaps";
		case MEMINFO_SOURCE_SUMMARY:
			return "/v1/summary";
		case MEMINFO_SOURCE_BY_KIND:
			return "/v1/by_kind";
		case MEMINFO_SOURCE_CONTEXTS:
			return "/v1/contexts";
		case MEMINFO_SOURCE_LIMITS:
			return "/v1/limits";
		case MEMINFO_SOURCE_HISTORY:
			return "/v1/history";
	}
	return "/v1/smaps";			/* keep compiler quiet */
}

/*
 * Resolve the options of a foreign table and its server into *opts, with
 * the defaults for those not set.  The validator has checked them when
 * they were set; the catalogs keep them as text, so they are parsed here.
 */
void
meminfo_get_options(Oid foreigntableid, MeminfoOptions *opts)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	ForeignServer *server = GetForeignServer(table->serverid);
	List	   *options = list_concat_copy(server->options, table->options);
	ListCell   *cell;

	opts->source = MEMINFO_SOURCE_SMAPS;
	opts->socket_path = NULL;
	opts->timeout_ms = MEMINFO_DEFAULT_TIMEOUT_MS;
	opts->max_response_size = MEMINFO_DEFAULT_MAX_RESPONSE_SIZE;

	foreach(cell, options)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (is_source_option(def->defname))
			opts->source = parse_source(defGetString(def));
		else if (strcmp(def->defname, "socket") == 0)
			opts->socket_path = defGetString(def);
		else if (strcmp(def->defname, "timeout") == 0)
			opts->timeout_ms = parse_timeout_ms(defGetString(def));
		else if (strcmp(def->defname, "max_response_size") == 0)
			opts->max_response_size = parse_max_response_size(defGetString(def));
	}
	if (opts->socket_path == NULL)
		opts->socket_path = default_socket_path();
}
