#!/usr/bin/env bash
# Writes the SQL that takes the database from FROM (a schema file, or "empty") to prisma/schema.prisma.
# Usage: tools/migration-diff/diff.sh empty|OLD_SCHEMA > prisma/migrations/NNNN_name/migration.sql
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[[ -x $here/node_modules/.bin/prisma ]] || (cd "$here" && npm install --no-audit --no-fund >/dev/null)
cd "$here"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Prisma 6 needs a url in the datasource and no Prisma-7-only generator options.
to_schema() { sed -e 's/^datasource db {/datasource db {\n  url = env("DATABASE_URL")/' -e '/^generator client {/,/^}/d' "$1" > "$2"; }
to_schema "$root/prisma/schema.prisma" "$tmp/to.prisma"
export CHECKPOINT_DISABLE=1 PRISMA_SCHEMA_ENGINE_BINARY= PRISMA_QUERY_ENGINE_LIBRARY=/bin/false DATABASE_URL=postgresql://unused/unused
if [[ ${1:-empty} == empty ]]; then from=(--from-empty); else to_schema "$1" "$tmp/from.prisma"; from=(--from-schema-datamodel "$tmp/from.prisma"); fi
"$here/node_modules/.bin/prisma" migrate diff "${from[@]}" --to-schema-datamodel "$tmp/to.prisma" --script
