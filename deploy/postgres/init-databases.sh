#!/usr/bin/env bash
# Creates one database per service, each owned by its own login role, so a service can only
# reach its own data. The postgres image runs this once, on the first start with an empty
# data volume (mounted at /docker-entrypoint-initdb.d/); later password changes need ALTER ROLE.
#
# Passwords come from the container's environment: PARTNERS_DB_PASSWORD, TRAVEL_DB_PASSWORD,
# GRANTS_DB_PASSWORD, NOTIFICATIONS_DB_PASSWORD.
set -euo pipefail

for service in partners travel grants notifications; do
    var="${service^^}_DB_PASSWORD"
    password="${!var:-}"
    if [ -z "$password" ]; then
        echo "init-databases: $var is not set" >&2
        exit 1
    fi
    # psql variables (:"name" quotes an identifier, :'name' a literal) keep the password out
    # of the SQL text, so no character in it can break or inject into the statement.
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
         -v name="$service" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
-- Only the owner (and superusers) may connect: services do not share databases.
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
    echo "init-databases: created database and role $service"
done
