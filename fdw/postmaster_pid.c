/*-------------------------------------------------------------------------
 *
 * postmaster_pid.c
 *		  pg_meminfo_postmaster_pid(): the pid of this cluster's postmaster.
 *
 * The postmaster is the one process of the cluster that pg_stat_activity
 * does not list; the views need its pid to tell it from a process that
 * started after pg_stat_activity's snapshot.  Every backend knows it, so
 * there is nothing to read and nothing to fail.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

PG_FUNCTION_INFO_V1(pg_meminfo_postmaster_pid);

/*
 * Returns the postmaster's pid as an integer.  Takes no arguments; it is the
 * same for the life of the cluster, so the SQL declaration may say STABLE.
 */
Datum
pg_meminfo_postmaster_pid(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32((int32) PostmasterPid);
}
