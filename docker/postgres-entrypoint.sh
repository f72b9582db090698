#!/bin/bash
# Entrypoint of the pg_meminfo PostgreSQL image: makes a cluster in $PGDATA on first start, runs the
# *.sql files of /docker-entrypoint-initdb.d once, then runs the postmaster as the container's main
# process, so that every process of the container is a process of the cluster.
#
# The cluster listens only on the socket in /run/postgresql (no TCP). pg_hba: the OS user postgres
# (peer) as role postgres, any other role with its password (scram-sha-256). The server log goes to
# $PGDATA/log by the logging collector, each line prefixed with the pid (%p).
set -euo pipefail

if [[ "${1:-}" != "postgres" ]]; then exec "$@"; fi
shift

if [[ $(id -u) -eq 0 ]]; then
  echo "postgres-entrypoint: run the container as the postgres user (the image's default)" >&2
  exit 1
fi

initialize() {
  initdb --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 --no-sync \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  cat >"$PGDATA/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER      METHOD
local   all       postgres  peer
local   all       all       scram-sha-256
EOF
  cat >>"$PGDATA/postgresql.conf" <<'EOF'

# pg_meminfo image
listen_addresses = ''
unix_socket_directories = '/run/postgresql'
logging_collector = on
log_directory = 'log'
log_filename = 'postgresql-%Y-%m-%d.log'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  local scripts=(/docker-entrypoint-initdb.d/*.sql)
  if [[ -e "${scripts[0]}" ]]; then
    # A private socket while the scripts run: the healthcheck sees no server until the real start.
    local init_socket
    init_socket=$(mktemp -d)
    pg_ctl --pgdata="$PGDATA" --wait --silent \
      --options="-c unix_socket_directories=$init_socket -c logging_collector=off" \
      --log="$init_socket/init.log" start
    local script
    for script in "${scripts[@]}"; do
      echo "postgres-entrypoint: running $script"
      psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --host="$init_socket" --dbname=postgres --file="$script"
    done
    pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
    rm -rf "$init_socket"
  fi
  echo "postgres-entrypoint: cluster initialized in $PGDATA"
}

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then initialize; fi
echo "postgres-entrypoint: starting PostgreSQL ${PG_MAJOR:-}; the server log is in $PGDATA/log"
exec postgres -D "$PGDATA" "$@"
