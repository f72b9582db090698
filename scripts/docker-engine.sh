#!/usr/bin/env bash
# A Docker engine for the container tests, started only when none answers.
#
#   export DOCKER_HOST=$(bash scripts/docker-engine.sh start)   # the engine that answers, or a private one
#   bash scripts/docker-engine.sh stop                            # stops the private engine, if this started it
#
# The private engine is Debian's dockerd with its own data root, exec root, socket and pid file, overlay2
# storage, no default bridge and no iptables rules: the tests' containers use no IP network at all, and
# image builds use the host's network (docker build --network host). Its data root is kept between runs so
# that built images are reused. As root, a missing dockerd is installed from Debian (docker.io).
#
# Environment: PG_MEMINFO_DOCKER_ROOT (default /var/lib/pg-meminfo-docker) for images and layers,
# PG_MEMINFO_DOCKER_RUN (default /run/pg-meminfo-docker) for the socket, pid file and exec root.
set -euo pipefail

data_root=${PG_MEMINFO_DOCKER_ROOT:-/var/lib/pg-meminfo-docker}
run_dir=${PG_MEMINFO_DOCKER_RUN:-/run/pg-meminfo-docker}
socket="$run_dir/docker.sock"
pidfile="$run_dir/dockerd.pid"
logfile="$run_dir/dockerd.log"
private_host="unix://$socket"

say() { echo "docker-engine: $*" >&2; }

answers() {
  DOCKER_HOST="$1" timeout 10 docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1
}

default_host() {
  if [[ -n "${DOCKER_HOST:-}" ]]; then echo "$DOCKER_HOST"; else echo "unix:///var/run/docker.sock"; fi
}

install_engine() {
  if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then return 0; fi
  if [[ $(id -u) -ne 0 ]]; then
    say "dockerd is not installed; as root: apt-get install -y docker.io"
    exit 1
  fi
  say "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io </dev/null >&2
}

start() {
  local host
  host=$(default_host)
  if command -v docker >/dev/null 2>&1 && answers "$host"; then
    echo "$host"
    return 0
  fi
  if [[ -S "$socket" ]] && answers "$private_host"; then
    echo "$private_host"
    return 0
  fi
  install_engine
  if [[ $(id -u) -ne 0 ]]; then
    say "no Docker engine answers at $host, and starting one needs root"
    exit 1
  fi
  mkdir -p "$data_root" "$run_dir"
  chmod 0711 "$run_dir"
  say "starting dockerd ($private_host, data root $data_root, log $logfile)"
  setsid dockerd \
    --data-root "$data_root" \
    --exec-root "$run_dir/exec" \
    --host "$private_host" \
    --pidfile "$pidfile" \
    --storage-driver overlay2 \
    --bridge none \
    --iptables=false \
    </dev/null >"$logfile" 2>&1 &
  local i
  for ((i = 0; i < 60; i++)); do
    if answers "$private_host"; then
      echo "$private_host"
      return 0
    fi
    if ! kill -0 $! 2>/dev/null; then break; fi
    sleep 1
  done
  say "dockerd did not answer; the end of its log:"
  tail -n 30 "$logfile" >&2 || true
  stop
  exit 1
}

stop() {
  [[ -f "$pidfile" ]] || return 0
  local pid i
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for ((i = 0; i < 30; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "dockerd $pid did not stop in 30 s: killing it"
      kill -KILL "$pid" || true
    fi
  fi
  rm -f "$pidfile"
  # dockerd leaves its network namespace mounted under the exec root.
  local ns
  for ns in "$run_dir"/exec/netns/*; do
    if [[ -e "$ns" ]]; then umount "$ns" 2>/dev/null || true; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
