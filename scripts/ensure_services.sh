#!/usr/bin/env bash
# Start RabbitMQ and PostgreSQL when they are not answering; the test suite needs both.
set -euo pipefail

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

if ! port_open 5432; then
  echo "PostgreSQL is not running: starting it"
  command -v pg_ctlcluster >/dev/null || { apt-get update -q && apt-get install -y -q postgresql; }
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_port 5432 PostgreSQL
fi

# The suite creates private vhosts and databases; check the tools it uses are present.
command -v rabbitmqctl >/dev/null || { echo "rabbitmqctl is missing" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is missing" >&2; exit 1; }
