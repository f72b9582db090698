/*
 * pg_meminfo_original.c
 *		Performance stand-in for the original pg_meminfo extension, used only by
 *		the benchmark: the same work per call (every backend in the pgstat list,
 *		fopen/fgets of /proc/PID/smaps, every field parsed into a C struct, 33
 *		columns converted to Datums and materialized in a tuplestore).
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(original_get_smaps);

#define NCOLUMNS 33
#define NFIELDS 23				/* mem_size .. thp_eligible */
#define LINE_MAX_LEN 4096

/* Field keys of /proc/PID/smaps, in column order from mem_size on. */
static const char *const field_keys[NFIELDS] = {
	"Size", "KernelPageSize", "MMUPageSize", "Rss", "Pss", "Pss_Dirty",
	"Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty",
	"Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
	"ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb",
	"Swap", "SwapPss", "Locked", "THPeligible"
};

typedef struct Mapping
{
	char		start[32];
	char		end[32];
	char		perms[8];
	char		offset[32];
	char		major[8];
	char		minor[8];
	int			inode;
	char		path[LINE_MAX_LEN];
	int			fields[NFIELDS];
	char		flags[LINE_MAX_LEN];
} Mapping;

/* A header line is "start-end perms offset major:minor inode [path]". */
static bool
parse_header(const char *line, Mapping *m)
{
	char		dev[32];
	int			consumed = 0;
	const char *p;

	if (sscanf(line, "%31[0-9a-f]-%31[0-9a-f] %7s %31s %31s %d%n",
			   m->start, m->end, m->perms, m->offset, dev, &m->inode, &consumed) < 6)
		return false;
	if (sscanf(dev, "%2[0-9a-f]:%2[0-9a-f]", m->major, m->minor) < 2)
		m->major[0] = m->minor[0] = '\0';
	p = line + consumed;
	while (*p == ' ')
		p++;
	strlcpy(m->path, p, sizeof(m->path));
	m->path[strcspn(m->path, "\n")] = '\0';
	memset(m->fields, 0, sizeof(m->fields));
	m->flags[0] = '\0';
	return true;
}

static void
parse_field(const char *line, Mapping *m)
{
	const char *colon = strchr(line, ':');
	size_t		keylen;

	if (colon == NULL)
		return;
	keylen = colon - line;
	if (keylen == 7 && strncmp(line, "VmFlags", 7) == 0)
	{
		const char *p = colon + 1;

		while (*p == ' ')
			p++;
		strlcpy(m->flags, p, sizeof(m->flags));
		m->flags[strcspn(m->flags, "\n")] = '\0';
		return;
	}
	for (int i = 0; i < NFIELDS; i++)
	{
		if (strlen(field_keys[i]) == keylen && strncmp(line, field_keys[i], keylen) == 0)
		{
			m->fields[i] = (int) strtol(colon + 1, NULL, 10);
			return;
		}
	}
}

static void
put_mapping(ReturnSetInfo *rsinfo, int pid, const Mapping *m)
{
	Datum		values[NCOLUMNS];
	bool		nulls[NCOLUMNS] = {0};

	values[0] = Int32GetDatum(pid);
	values[1] = CStringGetTextDatum(m->start);
	values[2] = CStringGetTextDatum(m->end);
	values[3] = CStringGetTextDatum(m->perms);
	values[4] = CStringGetTextDatum(m->offset);
	values[5] = CStringGetTextDatum(m->major);
	values[6] = CStringGetTextDatum(m->minor);
	values[7] = Int32GetDatum(m->inode);
	values[8] = CStringGetTextDatum(m->path);
	for (int i = 0; i < NFIELDS; i++)
		values[9 + i] = Int32GetDatum(m->fields[i]);
	values[32] = CStringGetTextDatum(m->flags);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

Datum
original_get_smaps(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			nbackends;
	Mapping    *m;
	char	   *line;

	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser or a member of pg_read_all_stats")));

	InitMaterializedSRF(fcinfo, 0);
	m = palloc(sizeof(Mapping));
	line = palloc(LINE_MAX_LEN);

	nbackends = pgstat_fetch_stat_numbackends();
	for (int b = 1; b <= nbackends; b++)
	{
#if PG_VERSION_NUM >= 170000
		LocalPgBackendStatus *entry = pgstat_get_local_beentry_by_index(b);
#else
		LocalPgBackendStatus *entry = pgstat_fetch_stat_local_beentry(b);
#endif
		int			pid;
		char		path[64];
		FILE	   *fp;
		bool		in_mapping = false;

		if (entry == NULL)
			continue;
		pid = entry->backendStatus.st_procpid;
		snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
		fp = fopen(path, "r");
		if (fp == NULL)
			continue;
		while (fgets(line, LINE_MAX_LEN, fp) != NULL)
		{
			Mapping		next;

			if (parse_header(line, &next))
			{
				if (in_mapping)
					put_mapping(rsinfo, pid, m);
				*m = next;
				in_mapping = true;
			}
			else if (in_mapping)
				parse_field(line, m);
		}
		if (in_mapping)
			put_mapping(rsinfo, pid, m);
		fclose(fp);
	}
	PG_RETURN_VOID();
}
