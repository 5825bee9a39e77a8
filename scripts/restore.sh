#!/usr/bin/env bash
# Restore a backup made by backup.sh into the PostgreSQL database of DATABASE_URL.
#
#   ./scripts/restore.sh /path/to/backup.tar.gz              # database and key files
#   ./scripts/restore.sh /path/to/backup.tar.gz --db-only    # the database only
#
# Options:
#   --clean   the target database is not empty: drop its public schema and restore into a
#             clean one (everything else in that schema is lost)
#   --force   restore over a non-empty database (objects of the backup are dropped and
#             recreated; others are left) and replace key files that differ
# Before touching anything, the archive is checked: its members, every checksum of its
# manifest, a revision this code knows, a dump pg_restore can read, an empty target (unless
# --clean/--force). The restore itself is one transaction: all of it, or nothing.
# Settings: DATABASE_URL, and the key file destinations ENCRYPTION_KEY_FILE and
# JWT_PRIVATE_KEY_FILE (default: where the backup found them). See docs/data-care.md.
set -euo pipefail

SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$SCRIPTS")"
readonly SCRIPTS ROOT
# shellcheck source=lib.sh
source "$SCRIPTS/lib.sh"

usage() {
    sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

archive="" db_only=false force=false clean=false
while (($#)); do
    case "$1" in
        --db-only) db_only=true ;;
        --force) force=true ;;
        --clean) clean=true ;;
        -h | --help) usage; exit 0 ;;
        -*) die 2 "unknown option '$1' (usage: restore.sh BACKUP.tar.gz [--db-only] [--clean|--force])" ;;
        *)
            [[ -z $archive ]] || die 2 "one archive at a time ('$archive', then '$1')"
            archive="$1"
            ;;
    esac
    shift
done
[[ -n $archive ]] || die 2 "which archive? (usage: restore.sh BACKUP.tar.gz [--db-only])"
! ($clean && $force) || die 2 "--clean or --force, not both"

load_env_file
connection_from_env
need pg_restore psql tar gzip sha256sum
[[ -f $archive && -r $archive ]] || die 1 "no readable archive at $archive"

# --- the archive: members, manifest, checksums ------------------------------------------------
gzip -t -- "$archive" 2>/dev/null || die 1 "$archive is corrupt (not a complete gzip file)"
members="$(tar -tzf "$archive" 2>/dev/null)" || die 1 "$archive is corrupt (not a tar archive)"
while IFS= read -r member; do
    [[ $member =~ ^(\./)?(manifest\.json|db\.dump|keys/?|keys/(ENCRYPTION_KEY_FILE|JWT_PRIVATE_KEY_FILE))?$ ]] ||
        die 1 "$archive holds '$member': not an archive of backup.sh"
done <<<"$members"

umask 077
work="$(mktemp -d "${TMPDIR:-/tmp}/wf-restore.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar -xzf "$archive" -C "$work" || die 1 "$archive could not be unpacked"
manifest="$work/manifest.json"
[[ -f $manifest ]] || die 1 "$archive has no manifest.json: not an archive of backup.sh"

field() {
    sed -n "s/^  \"$1\": \"\(.*\)\",\$/\1/p" "$manifest"
}
[[ "$(field format)" == "$FORMAT" ]] ||
    die 1 "$archive is not a $FORMAT archive (manifest format '$(field format)')"
kind="$(field kind)" revision="$(field revision)"
[[ -n $revision ]] || die 1 "the manifest of $archive names no revision"

listed=()
file_re='^    \{"path": "([A-Za-z_./]+)", "sha256": "([0-9a-f]{64})", "bytes": ([0-9]+)\},?$'
while IFS= read -r line; do
    [[ $line =~ $file_re ]] || continue
    path="${BASH_REMATCH[1]}" sum="${BASH_REMATCH[2]}" bytes="${BASH_REMATCH[3]}"
    [[ -f "$work/$path" ]] || die 1 "$archive lacks $path, which its manifest lists"
    [[ "$(sha256 "$work/$path")" == "$sum" ]] ||
        die 1 "checksum mismatch for $path in $archive: the archive is damaged; restore nothing from it"
    [[ "$(wc -c <"$work/$path" | tr -d ' ')" == "$bytes" ]] ||
        die 1 "size mismatch for $path in $archive: the archive is damaged"
    listed+=("$path")
done <"$manifest"
[[ " ${listed[*]-} " == *" db.dump "* ]] || die 1 "the manifest of $archive lists no db.dump"
while IFS= read -r path; do
    [[ " ${listed[*]} " == *" ${path#./} "* ]] ||
        die 1 "$archive holds ${path#./}, which its manifest does not list (no checksum)"
done < <(cd "$work" && find . -type f ! -name manifest.json)

# --- a revision this code knows --------------------------------------------------------------
# The code's migrations: from its Python (WORKFLOW_ENGINE_PYTHON, the checkout's .venv, or
# python3 with the package installed), else the scripts of the checkout.
known_revisions() {
    local python candidates=("${WORKFLOW_ENGINE_PYTHON:-}" "$ROOT/.venv/bin/python" python3)
    for python in "${candidates[@]}"; do
        if [[ -z $python ]] || ! command -v "$python" >/dev/null 2>&1; then
            continue
        fi
        "$python" - 2>/dev/null <<'PY' && return 0
from alembic.script import ScriptDirectory
from server.migrations import alembic_config
scripts = ScriptDirectory.from_config(alembic_config())
print(scripts.get_current_head())
for script in scripts.walk_revisions():
    print(script.revision)
PY
    done
    local versions="$ROOT/alembic/versions"
    [[ -d $versions ]] || return 1
    echo "?" # head unknown from the scripts alone
    sed -n 's/^revision[^=]*= *["'\'']\([^"'\'']*\)["'\''].*/\1/p' "$versions"/*.py
}
mapfile -t known < <(known_revisions) || true
((${#known[@]} > 1)) || die 1 "cannot tell which migrations this code has: set" \
    "WORKFLOW_ENGINE_PYTHON to the Python the engine is installed in"
head="${known[0]}"
[[ " ${known[*]:1} " == *" $revision "* ]] ||
    die 1 "the backup is at revision $revision, which this code does not know (it knows" \
        "${known[*]:1}): restore it with the release that made it"

# --- the dump, the target, the key files -----------------------------------------------------
pg_restore --list "$work/db.dump" >/dev/null 2>&1 ||
    die 1 "pg_restore $(tool_major pg_restore) cannot read the dump (made by:" \
        "$(field pg_dump_version)): install that PostgreSQL version's client tools"

server_major="$(psql_value "SELECT current_setting('server_version_num')::int / 10000")" ||
    die 1 "cannot connect to $DB_DISPLAY (see the psql error above)"
if (($(tool_major pg_restore) > server_major)); then
    log "warning: pg_restore $(tool_major pg_restore) is newer than the server ($server_major)"
fi
tables="$(psql_value "SELECT count(*) FROM pg_tables
                      WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"
if ((tables > 0)) && ! $force && ! $clean; then
    die 1 "$DB_DISPLAY is not empty ($tables tables): restore into an empty database, or" \
        "pass --clean (drop its public schema first) or --force (overwrite the backup's objects)"
fi

restore_keys=false
key_settings=() key_targets=()
if ! $db_only && [[ $kind == full ]]; then
    restore_keys=true
    key_re='^    \{"setting": "(ENCRYPTION_KEY_FILE|JWT_PRIVATE_KEY_FILE)", "source": "(.*)", "path": "keys/[A-Z_]+"\},?$'
    while IFS= read -r line; do
        [[ $line =~ $key_re ]] || continue
        setting="${BASH_REMATCH[1]}" source="${BASH_REMATCH[2]//\\\"/\"}"
        source="${source//\\\\/\\}"
        target="${!setting:-$source}" # where this deployment wants it, else where it was
        if [[ -e $target ]] && ! cmp -s -- "$target" "$work/keys/$setting"; then
            $force || die 1 "$target ($setting) exists and differs from the backup's: pass" \
                "--force to replace it, or point $setting elsewhere"
        fi
        key_settings+=("$setting")
        key_targets+=("$target")
    done <"$manifest"
fi

# --- restore -----------------------------------------------------------------------------------
if $clean && ((tables > 0)); then
    log "dropping the public schema of $DB_DISPLAY ($tables tables)"
    psql_value "SET client_min_messages = warning; DROP SCHEMA public CASCADE;
                CREATE SCHEMA public" >/dev/null
fi
options=(--no-owner --no-privileges --exit-on-error --single-transaction)
$force && options+=(--clean --if-exists)
log "restoring $kind backup of $(field created_at) (revision $revision) into $DB_DISPLAY"
pg_restore "${options[@]}" --dbname="$DB_URI" "$work/db.dump" ||
    die 1 "pg_restore failed (see above); its single transaction left the database as it was"
restored="$(psql_value "SELECT version_num FROM alembic_version")"
[[ $restored == "$revision" ]] ||
    die 1 "restored, but the database is at revision '$restored', not the manifest's $revision"

if $restore_keys; then
    for ((i = 0; i < ${#key_settings[@]}; i++)); do
        setting="${key_settings[i]}" target="${key_targets[i]}"
        if [[ -e $target ]] && cmp -s -- "$target" "$work/keys/$setting"; then
            log "$setting: $target is already the backup's"
            continue
        fi
        mkdir -p -- "$(dirname -- "$target")"
        cp -- "$work/keys/$setting" "$target"
        chmod 600 -- "$target"
        log "$setting: restored to $target"
    done
    ((${#key_settings[@]})) || log "the backup holds no key files (none were configured)"
elif [[ $kind == full && -d "$work/keys" ]]; then
    log "--db-only: the backup's key files were not restored"
fi
if [[ $kind == db-only || $db_only == true ]]; then
    log "sealed (sensitive) variables open only with the encryption keys of the backup's time"
fi
if [[ $head != "?" && $revision != "$head" ]]; then
    log "the database is at revision $revision; this code needs $head: run" \
        "'workflow-engine migrate' before starting the service"
fi
log "done: $DB_DISPLAY restored from $archive"
