#!/bin/sh
# PID 1 is this shell, not the server: the server can then be stopped and started in place
# (`pg_ctl stop` / `pg_ctl start`, as an operator or a managed service restarts a database)
# while the container keeps its address and its name on the network, which is what clients
# of a restarted managed database see. `docker stop` (SIGINT) stops the server cleanly.
#
# First start: initialise the data directory. Local connections (the operator's
# `docker exec`) use peer authentication; network clients (the app, on the target's private
# network only) must present a password (SCRAM).
set -eu
BIN=/usr/local/lib/postgresql-bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  "$BIN/initdb" --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  echo "host all all samenet scram-sha-256" >> "$PGDATA/pg_hba.conf"
  cat >> "$PGDATA/postgresql.conf" <<'CONF'
listen_addresses = '*'
unix_socket_directories = '/var/run/postgresql'
password_encryption = scram-sha-256
CONF
fi

stop() {
  "$BIN/pg_ctl" stop --pgdata="$PGDATA" --mode=fast --wait --silent || true
  exit 0
}
trap stop INT TERM
"$BIN/pg_ctl" start --pgdata="$PGDATA" --wait --silent
while :; do
  sleep 1 &
  wait $! || true
done
