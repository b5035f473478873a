#!/bin/sh
# Initialise the data directory on first start, then run the server in the foreground.
# Local connections (the operator's `docker exec`) use peer authentication; network clients
# (the app, on the target's private network only) must present a password (SCRAM).
set -eu
BIN=/usr/local/lib/postgresql-bin
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  "$BIN/initdb" --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  echo "host all all samenet scram-sha-256" >> "$PGDATA/pg_hba.conf"
fi
exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' \
  -c unix_socket_directories=/var/run/postgresql -c password_encryption=scram-sha-256
