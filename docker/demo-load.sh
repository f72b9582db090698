#!/bin/bash
# Load of the demo stack: four sessions doing different work, each named by its application_name, so
# that backend_memory has something worth looking at. Runs until stopped.
#   demo-sort                 a big in-memory sort, again and again (work_mem 256MB)
#   demo-scan                 sequential scans of a table larger than shared_buffers
#   demo-idle-in-transaction  a transaction left open after one query
#   demo-growing              a session that prepares one more statement every second
set -euo pipefail

session() {
  local name=$1
  PGAPPNAME=$name psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --output=/dev/null
}

psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 <<'EOF'
CREATE TABLE IF NOT EXISTS demo_scan AS
  SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 2000000) AS g;
EOF

while :; do
  echo "SET work_mem = '256MB'; SELECT g FROM generate_series(1, 2000000) AS g ORDER BY random() OFFSET 1999999;"
  sleep 2
done | session demo-sort &

while :; do
  echo "SELECT count(*), max(payload) FROM demo_scan;"
  sleep 1
done | session demo-scan &

{
  echo "BEGIN; SELECT count(*) FROM pg_class;"
  exec sleep infinity
} | session demo-idle-in-transaction &

i=0
while :; do
  echo "PREPARE growing_$i AS SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid WHERE c.oid > $i; EXECUTE growing_$i;"
  i=$((i + 1))
  sleep 1
done | session demo-growing &

echo "demo-load: four sessions running"
wait -n
echo "demo-load: a session ended" >&2
exit 1
