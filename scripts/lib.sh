# shellcheck shell=bash
# Shared by backup.sh and restore.sh (sourced, not run): messages, the env file, the
# connection from DATABASE_URL, and small helpers. Expects SCRIPTS and ROOT to be set.

# The archive format: what backup.sh writes in the manifest, what restore.sh accepts.
# shellcheck disable=SC2034  # used by the scripts that source this file
readonly FORMAT="workflow-engine-backup/1"

log() {
    printf '%s: %s\n' "$(basename "$0")" "$*" >&2
}

# die CODE MESSAGE...: print the message and exit with CODE (1: failure, 2: usage)
die() {
    local code="$1"
    shift
    printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
    exit "$code"
}

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die 1 "'$tool' is not installed (it is needed here)"
    done
}

# KEY=VALUE lines of WORKFLOW_ENGINE_ENV (default <install dir>/.env), for cron, which starts
# jobs with an empty environment. Read, not sourced: nothing in it runs. A variable already in
# the environment wins, as with docker compose.
load_env_file() {
    local file="${WORKFLOW_ENGINE_ENV:-$ROOT/.env}" line key value
    [[ -f $file ]] || return 0
    [[ -r $file ]] || die 1 "cannot read the env file $file"
    while IFS= read -r line || [[ -n $line ]]; do
        line="${line#"${line%%[![:space:]]*}"}"
        [[ -z $line || $line == \#* ]] && continue
        line="${line#export }"
        [[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        key="${BASH_REMATCH[1]}" value="${BASH_REMATCH[2]}"
        if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then
            value="${BASH_REMATCH[1]}"
        fi
        [[ -n ${!key+set} ]] || export "$key=$value"
    done <"$file"
}

url_decode() {
    local encoded="${1//+/%2B}"
    printf '%b' "${encoded//%/\\x}"
}

# From DATABASE_URL (postgres://user:password@host:5432/db, also postgresql:// and
# postgresql+asyncpg://): DB_URI without the password (which goes to PGPASSWORD, so that it
# never shows in `ps`), DB_NAME (safe in a file name) and DB_DISPLAY (for messages).
connection_from_env() {
    local url="${DATABASE_URL:-}" scheme rest query="" authority path userinfo="" hostport
    [[ -n $url ]] || die 2 "DATABASE_URL is not set (postgres://user:password@host:5432/db)"
    [[ $url == *://* ]] || die 2 "DATABASE_URL is not a URL such as postgres://user@host/db"
    scheme="${url%%://*}" rest="${url#*://}"
    case "$scheme" in
        postgres | postgresql | postgresql+asyncpg | postgresql+psycopg | postgresql+psycopg2) ;;
        sqlite*) die 2 "DATABASE_URL is SQLite: these scripts back up PostgreSQL (for the" \
            "embedded file, see docs/data-care.md)" ;;
        *) die 2 "DATABASE_URL scheme '$scheme' is not PostgreSQL (postgres://...)" ;;
    esac
    if [[ $rest == *\?* ]]; then
        query="?${rest#*\?}" rest="${rest%%\?*}"
    fi
    authority="${rest%%/*}"
    path=""
    [[ $rest == */* ]] && path="${rest#*/}"
    [[ -n $path ]] || die 2 "DATABASE_URL names no database (postgres://user@host:5432/DBNAME)"
    hostport="$authority"
    if [[ $authority == *@* ]]; then
        userinfo="${authority%@*}" hostport="${authority##*@}"
    fi
    if [[ $userinfo == *:* ]]; then
        export PGPASSWORD
        PGPASSWORD="$(url_decode "${userinfo#*:}")"
        userinfo="${userinfo%%:*}"
    fi
    DB_URI="postgresql://${userinfo:+$userinfo@}${hostport}/${path}${query}"
    DB_NAME="$(url_decode "$path" | tr -c 'A-Za-z0-9_.\n-' '_')"
    DB_DISPLAY="${path} on ${hostport:-the local socket}"
    # shellcheck disable=SC2034  # read by the scripts that source this file
    readonly DB_URI DB_NAME DB_DISPLAY
}

# psql_value SQL: the single value SQL returns, on the configured database
psql_value() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB_URI" -c "$1"
}

tool_major() {
    local version
    version="$("$1" --version)"
    [[ $version =~ \)\ ([0-9]+) ]] || die 1 "cannot read the version of $1 ('$version')"
    printf '%s\n' "${BASH_REMATCH[1]}"
}

json_escape() {
    local text="${1//\\/\\\\}"
    printf '%s' "${text//\"/\\\"}"
}

sha256() {
    local sum
    sum="$(sha256sum -- "$1")"
    printf '%s\n' "${sum%% *}"
}
