#!/usr/bin/env bash
# Back up the workflow engine's PostgreSQL database (and its key files) into one tar.gz.
#
#   ./scripts/backup.sh              # full: database dump, manifest, key files
#   ./scripts/backup.sh --db-only    # database dump and manifest only
#   0 2 * * * /opt/workflow-engine/scripts/backup.sh     # crontab: every night at 02:00
#
# Settings (environment, or the env file: WORKFLOW_ENGINE_ENV, default <install dir>/.env):
#   DATABASE_URL          postgres://user:password@host:5432/db (required)
#   BACKUP_DIR            where archives go (default: <install dir>/backups)
#   BACKUP_KEEP           archives of this database to keep, newest first (default 14; 0: all)
#   ENCRYPTION_KEY_FILE   key file of sensitive variables: in a full backup
#   JWT_PRIVATE_KEY_FILE  token signing key: in a full backup
# The archive path is printed on stdout; progress and errors go to stderr. See docs/data-care.md.
set -euo pipefail

SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$SCRIPTS")"
readonly SCRIPTS ROOT
# shellcheck source=lib.sh
source "$SCRIPTS/lib.sh"

usage() {
    sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

db_only=false
while (($#)); do
    case "$1" in
        --db-only) db_only=true ;;
        -h | --help) usage; exit 0 ;;
        *) die 2 "unknown argument '$1' (usage: backup.sh [--db-only])" ;;
    esac
    shift
done

load_env_file
connection_from_env
need pg_dump psql tar gzip sha256sum
backup_dir="${BACKUP_DIR:-$ROOT/backups}"
keep="${BACKUP_KEEP:-14}"
[[ $keep =~ ^[0-9]+$ ]] || die 2 "BACKUP_KEEP must be a number of archives (got '$keep')"

# pg_dump refuses a server of a newer major version: say which client is needed
server_major="$(psql_value "SELECT current_setting('server_version_num')::int / 10000")" ||
    die 1 "cannot connect to $DB_DISPLAY (see the psql error above)"
dump_major="$(tool_major pg_dump)"
if ((dump_major < server_major)); then
    die 1 "pg_dump $dump_major cannot dump a PostgreSQL $server_major server: install the" \
        "PostgreSQL $server_major client tools (postgresql-client-$server_major)"
fi
revision="$(psql_value "SELECT version_num FROM alembic_version" 2>/dev/null)" ||
    die 1 "$DB_DISPLAY has no alembic_version table: not a workflow-engine database" \
        "(or not migrated: workflow-engine migrate)"
[[ -n $revision ]] || die 1 "$DB_DISPLAY: alembic_version is empty (migrate it first)"

umask 077 # dumps and keys are secrets: nobody else reads them, here or in BACKUP_DIR
mkdir -p "$backup_dir" || die 1 "cannot create BACKUP_DIR $backup_dir"
work="$(mktemp -d "${TMPDIR:-/tmp}/wf-backup.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log "dumping $DB_DISPLAY (revision $revision, pg_dump $dump_major, server $server_major)"
# custom format: compressed, restored selectively, and one consistent snapshot
# (pg_dump reads everything in a single repeatable-read transaction)
pg_dump --format=custom --no-owner --no-privileges --file="$work/db.dump" "$DB_URI" ||
    die 1 "pg_dump failed (see above): no archive written"

kind=full
key_settings=() # the settings whose files are in the archive, and those files' paths
key_paths=()
if $db_only; then
    kind=db-only
else
    for setting in ENCRYPTION_KEY_FILE JWT_PRIVATE_KEY_FILE; do
        path="${!setting:-}"
        [[ -n $path ]] || continue
        [[ -f $path && -r $path ]] || die 1 "$setting=$path is not a readable file"
        mkdir -p "$work/keys"
        cp -- "$path" "$work/keys/$setting"
        key_settings+=("$setting")
        key_paths+=("$path")
    done
    if [[ -n ${ENCRYPTION_KEYS:-} ]]; then
        log "warning: ENCRYPTION_KEYS is set inline, not in a file: it is NOT in the archive;" \
            "keep it safe elsewhere, without it sensitive variables cannot be read back"
    fi
fi

write_manifest() {
    local first=true file i
    printf '{\n'
    printf '  "format": "%s",\n' "$FORMAT"
    printf '  "kind": "%s",\n' "$kind"
    printf '  "created_at": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '  "database": "%s",\n' "$(json_escape "$DB_DISPLAY")"
    printf '  "revision": "%s",\n' "$(json_escape "$revision")"
    printf '  "server_version": "%s",\n' "$(json_escape "$(psql_value 'SHOW server_version')")"
    printf '  "pg_dump_version": "%s",\n' "$(json_escape "$(pg_dump --version)")"
    printf '  "files": [\n'
    for file in db.dump ${key_settings[@]+"${key_settings[@]/#/keys/}"}; do
        $first || printf ',\n'
        first=false
        printf '    {"path": "%s", "sha256": "%s", "bytes": %s}' "$file" \
            "$(sha256 "$work/$file")" "$(wc -c <"$work/$file" | tr -d ' ')"
    done
    printf '\n  ],\n  "keys": ['
    first=true
    for ((i = 0; i < ${#key_settings[@]}; i++)); do
        if $first; then printf '\n'; else printf ',\n'; fi
        first=false
        printf '    {"setting": "%s", "source": "%s", "path": "keys/%s"}' "${key_settings[i]}" \
            "$(json_escape "${key_paths[i]}")" "${key_settings[i]}"
    done
    $first || printf '\n  '
    printf ']\n}\n'
}
write_manifest >"$work/manifest.json"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
name="workflow-engine-${DB_NAME}-${stamp}"
$db_only && name+="-db-only"
archive="$backup_dir/$name.tar.gz"
# written under a temporary name, renamed when complete: a crash never leaves a
# truncated archive that looks like a backup (nor one that rotation would count)
tar -czf "$archive.partial" -C "$work" . || die 1 "writing $archive failed"
mv -f -- "$archive.partial" "$archive"
log "wrote $archive ($kind, $(wc -c <"$archive" | tr -d ' ') bytes)"

if ((keep > 0)); then
    mapfile -t old < <(find "$backup_dir" -maxdepth 1 -type f \
        -name "workflow-engine-${DB_NAME}-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T*Z*.tar.gz" -printf '%f\n' | sort -r | tail -n "+$((keep + 1))")
    for file in ${old[@]+"${old[@]}"}; do
        rm -f -- "${backup_dir:?}/$file"
        log "removed old backup $file (BACKUP_KEEP=$keep)"
    done
fi
printf '%s\n' "$archive"
