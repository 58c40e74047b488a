# Shared by scripts/test, scripts/bench and scripts/run: install what is missing, and run a throwaway
# PostgreSQL cluster as an unprivileged account (initdb refuses root).

# ensure_packages PKG…: installs the Debian packages not yet installed (root only; otherwise just reports).
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (install them, or run as root)" >&2
        return 1
    fi
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Release builds are made the way resolverd is deployed (README, "Building for production"): the Swift runtime
# and Foundation linked into the binary. Every release build goes through release_build and release_bin, since
# SwiftPM rebuilds everything when the flags change. SCRATCH_PATH, when set, is the build folder.
release_swift_build() {
    local flags=(-c release --static-swift-stdlib)
    if [ -n "${SCRATCH_PATH:-}" ]; then flags+=(--scratch-path "$SCRATCH_PATH"); fi
    swift build "${flags[@]}" "$@"
}
# release_build PRODUCT…: builds each product, reporting on standard error.
release_build() {
    local product
    for product in "$@"; do release_swift_build --product "$product" >&2; done
}
# release_bin: the folder the release products are in.
release_bin() {
    release_swift_build --show-bin-path
}

# The PostgreSQL server binaries (initdb, pg_ctl, pgbench).
pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$dir" ] || { echo "PostgreSQL server binaries not found" >&2; return 1; }
    echo "$dir"
}

# The account test clusters run as when we are root.
PG_TEST_USER=${RESOLVERD_TEST_PG_USER:-resolverd-pg}

ensure_pg_user() {
    [ "$(id -u)" -ne 0 ] && return 0
    id -u "$PG_TEST_USER" >/dev/null 2>&1 ||
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_TEST_USER"
}

# as_pg_user CMD…: runs a command as the cluster's account (or as ourselves when not root).
as_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u "$PG_TEST_USER" -- "$@"; else "$@"; fi
}

# start_test_cluster DIR: initdb and start a cluster in DIR (socket in DIR/socket, port 5432 names the
# socket only; TCP stays off). Sets PG_TEST_URL and PG_TEST_DATA.
start_test_cluster() {
    local dir=$1 bin
    bin=$(pg_bindir)
    ensure_pg_user
    mkdir -p "$dir/socket"
    chmod 700 "$dir"
    [ "$(id -u)" -eq 0 ] && chown -R "$PG_TEST_USER" "$dir"
    as_pg_user "$bin/initdb" -D "$dir/pgdata" -U resolverd --auth=trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; return 1; }
    cat >>"$dir/pgdata/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/socket'
port = 5432
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    as_pg_user "$bin/pg_ctl" -D "$dir/pgdata" -l "$dir/postgresql.log" -w -t 60 -s start
    as_pg_user "$bin/createdb" -h "$dir/socket" -p 5432 -U resolverd resolverd
    PG_TEST_DATA=$dir/pgdata
    PG_TEST_URL="postgres://resolverd@$(printf %s "$dir/socket" | sed 's#/#%2F#g'):5432/resolverd"
    export PG_TEST_URL PG_TEST_DATA
}

stop_test_cluster() {
    local dir=$1
    [ -f "$dir/pgdata/postmaster.pid" ] && as_pg_user "$(pg_bindir)/pg_ctl" -D "$dir/pgdata" -w -t 60 -s -m fast stop || true
    rm -rf "$dir"
}
