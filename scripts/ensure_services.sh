#!/usr/bin/env bash
# Start RabbitMQ and PostgreSQL when they are not answering; the test suite needs both.
# `ensure_services.sh rabbitmq` installs and starts RabbitMQ only (scripts/run.py, `make run`, uses that).
set -euo pipefail
only="${1:-}"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 120); do port_open "$1" && return 0; sleep 0.5; done
  echo "$2 did not start listening on port $1" >&2; return 1
}

if ! port_open 5672; then
  echo "RabbitMQ is not running: starting it (rabbitmq-server -detached)"
  command -v rabbitmq-server >/dev/null || { apt-get update -q && apt-get install -y -q rabbitmq-server; }
  rabbitmq-server -detached
  wait_port 5672 RabbitMQ
fi
[ "$only" = rabbitmq ] && exit 0

if ! port_open 5432; then
  echo "PostgreSQL is not running: starting it"
  command -v pg_ctlcluster >/dev/null || { apt-get update -q && apt-get install -y -q postgresql; }
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_port 5432 PostgreSQL
fi

# The deploy tests validate and run deploy/nginx with Debian's nginx (never as a service) and envsubst; the
# PgBouncer tests and bench run their own pgbouncer (bench/pgbouncer.py), never the system service.
missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v envsubst >/dev/null || missing+=(gettext-base)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "${missing[*]} missing: installing (no service is started)"
  # Debian starts a service on install unless policy-rc.d says no: say no while we install, if nobody did.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The suite creates private vhosts and databases; check the tools it uses are present.
command -v rabbitmqctl >/dev/null || { echo "rabbitmqctl is missing" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is missing" >&2; exit 1; }
command -v openssl >/dev/null || { apt-get update -q && apt-get install -y -q openssl; }
