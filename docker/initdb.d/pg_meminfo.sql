-- First start of the demo stack's cluster: the extension, pointed at the sidecar's socket on the volume
-- that only the db and sidecar containers mount.
CREATE EXTENSION pg_meminfo;
ALTER SERVER pg_meminfo OPTIONS (ADD socket '/run/pg_meminfo/sidecar.sock');
