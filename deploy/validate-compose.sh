#!/usr/bin/env bash
# Validates docker-compose.yml against the Compose schema without a Docker engine, using
# Debian's docker-compose 1.29.2 (`config` parses, interpolates and checks the schema offline),
# and installs it first if it is missing. Exits non-zero when the file is invalid.
#
#   deploy/validate-compose.sh [--json] [FILE]
#     --json  also print the normalised config (anchors merged, variables filled) as JSON
#     FILE    defaults to docker-compose.yml at the repository root
set -euo pipefail

json=false
if [ "${1:-}" = "--json" ]; then json=true; shift; fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file="${1:-$root/docker-compose.yml}"

# Always Debian's build, so developers and CI validate against the same schema.
compose=/usr/bin/docker-compose
if [ ! -x "$compose" ]; then
    echo "validate-compose: installing docker-compose (Debian package)" >&2
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends docker-compose >&2
fi

# Stand-in values for the variables the file requires (${VAR:?}), so validation needs no real
# secrets and ignores a local .env. Values from the caller's environment still win.
env_file="$(mktemp)"
trap 'rm -f "$env_file"' EXIT
cat > "$env_file" <<'VARS'
OIA_SECRET_KEY=validate-only-secret
OIA_API_KEYS=validate-only-key:admin,validate-only-reader:reader
GRANTS_PARTNERS_API_KEY=validate-only-reader
POSTGRES_PASSWORD=validate-only
PARTNERS_DB_PASSWORD=validate-only
TRAVEL_DB_PASSWORD=validate-only
GRANTS_DB_PASSWORD=validate-only
NOTIFICATIONS_DB_PASSWORD=validate-only
RABBITMQ_PASSWORD=validate-only
VARS

if [ "$json" = true ]; then
    # docker-compose 1.x prints only YAML; its own interpreter has PyYAML (a package dependency).
    "$compose" --env-file "$env_file" -f "$file" config \
        | /usr/bin/python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout, indent=2)'
else
    "$compose" --env-file "$env_file" -f "$file" config -q
    echo "validate-compose: $file is valid" >&2
fi
