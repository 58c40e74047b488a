# The API fuzz run of scripts/test: starts resolverd on the test cluster with generated credentials and a config that
# points every provider at a local server refusing every credential, then runs schemathesis (from PyPI) against
# openapi.yaml: no 5xx, no answer outside the documented statuses, content types and schemas. Needs
# start_test_cluster's PG_TEST_URL. `/mcp` is not served yet, and on-demand refresh answers 501 until the refresh
# scheduler lands: both are left out of the run.

SCHEMATHESIS_VERSION=4.32.5
# At least this many generated requests against the API, or the run fails.
FUZZ_MIN_REQUESTS=${RESOLVERD_FUZZ_MIN_REQUESTS:-1000}

# free_port: an unused loopback TCP port.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# run_api_fuzz DIR: everything lives in DIR (removed by the caller).
run_api_fuzz() {
    local dir=$1 venv=${RESOLVERD_FUZZ_VENV:-$PWD/.build/schemathesis-venv}
    if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
        echo "api fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
    fi
    swift build --product resolverd >&2
    local bin=$PWD/.build/debug/resolverd

    as_pg_user "$(pg_bindir)/createdb" -h "$(dirname "$PG_TEST_DATA")/socket" -p 5432 -U resolverd resolverd_fuzz
    mkdir -p "$dir/keys"
    chmod 700 "$dir" "$dir/keys"
    head -c 32 /dev/urandom >"$dir/keys/fuzz-1"
    chmod 600 "$dir/keys/fuzz-1"
    local services_token api_port admin_port
    services_token=svc_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf 'fuzzer %s\n' "$services_token" >"$dir/services-tokens"
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/client-secret"
    chmod 600 "$dir/services-tokens" "$dir/client-secret"
    api_port=$(free_port)
    admin_port=$(free_port)
    provider_port=$(free_port)
    # Every provider is a local one that refuses every credential (401), as a provider does with a made-up key:
    # the fuzzer's keys get 422 and its tests ok=false, and nothing goes to the internet.
    python3 - "$provider_port" >"$dir/provider.log" 2>&1 <<'PY' &
import http.server, sys
class Refuse(http.server.BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length: self.rfile.read(length)
        body = b'{"error": "invalid_token"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = answer
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Refuse).serve_forever()
PY
    local provider_pid=$!
    python3 - "$dir" "$provider_port" <<'PY'
import json, sys
directory, port = sys.argv[1], sys.argv[2]
catalog = json.load(open("Sources/Connectors/Catalog/providers.json"))
providers = {p["slug"]: {"base_url": f"http://127.0.0.1:{port}"} for p in catalog["providers"]}
for slug in ("gmail", "github", "shopify"):
    providers[slug].update({"client_id": "fuzz-client", "client_secret_file": directory + "/client-secret"})
json.dump({
    "public_url": "https://resolverd.example.test",
    "redirect_allowlist": ["https://app.example.test/connectors/done"],
    "provider_timeout_seconds": 2,
    "providers": providers,
}, open(directory + "/resolverd.json", "w"), indent=2)
PY
    export DATABASE_URL="${PG_TEST_URL%/resolverd}/resolverd_fuzz" RESOLVERD_KEYS_DIR=$dir/keys \
        RESOLVERD_SERVICES_TOKENS_FILE=$dir/services-tokens RESOLVERD_CONFIG=$dir/resolverd.json \
        RESOLVERD_LISTEN=127.0.0.1:$api_port RESOLVERD_ADMIN_LISTEN=127.0.0.1:$admin_port RESOLVERD_LOG_LEVEL=debug
    "$bin" migrate >&2
    local user_key sample_key
    user_key=$("$bin" apikey create --user fuzz-user --name fuzz | sed -n 's/^key (shown once, store it now): //p')
    # A few stored connectors, so routes that take a connector find one.
    sample_key=sk_test_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s' "$sample_key" >"$dir/sample-key"
    for provider in stripe posthog klaviyo; do
        "$bin" connectors put --user fuzz-user --provider "$provider" --api-key-file "$dir/sample-key" >/dev/null
    done

    "$bin" serve >"$dir/resolverd.log" 2>&1 &
    local pid=$! status=0
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    local checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
    "$venv/bin/schemathesis" run openapi.yaml --url "http://127.0.0.1:$api_port" \
        --exclude-tag operations --exclude-path /mcp --exclude-path '/api/connectors/{ref}/refresh' \
        -H "Authorization: Bearer $user_key" -H "X-Reeve-Services-Token: $services_token" \
        --checks "$checks" --max-examples 80 --seed 20261122 --no-color --workers 2 --generation-database none \
        --report ndjson --report-ndjson-path "$dir/api.ndjson" || status=$?
    if [ $status -eq 0 ]; then
        "$venv/bin/schemathesis" run openapi.yaml --url "http://127.0.0.1:$admin_port" --include-tag operations \
            --checks "$checks" --max-examples 20 --seed 20261122 --no-color --generation-database none \
            --report ndjson --report-ndjson-path "$dir/admin.ndjson" || status=$?
    fi
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
    kill "$provider_pid" 2>/dev/null || true
    wait "$provider_pid" 2>/dev/null || true
    if [ $status -eq 0 ]; then
        local requests
        requests=$(python3 - "$dir/api.ndjson" <<'PY'
import json, sys
count = 0
for line in open(sys.argv[1]):
    event = json.loads(line)
    # Each scenario's interactions are the requests it sent.
    for value in event.values():
        if isinstance(value, dict) and "recorder" in value:
            count += len(value["recorder"].get("interactions", {}))
print(count)
PY
)
        echo "api fuzz: $requests generated requests against the API" >&2
        if [ "$requests" -lt "$FUZZ_MIN_REQUESTS" ]; then
            echo "api fuzz: fewer than $FUZZ_MIN_REQUESTS requests" >&2
            status=1
        fi
    fi
    # Nothing secret may reach the daemon's log.
    for secret in "$user_key" "$services_token" "$sample_key" "$(cat "$dir/client-secret")"; do
        if grep -qF -- "$secret" "$dir/resolverd.log"; then
            echo "api fuzz: a secret appears in the daemon's log" >&2
            status=1
        fi
    done
    [ $status -eq 0 ] || tail -50 "$dir/resolverd.log" >&2
    unset DATABASE_URL RESOLVERD_KEYS_DIR RESOLVERD_SERVICES_TOKENS_FILE RESOLVERD_CONFIG RESOLVERD_LISTEN RESOLVERD_ADMIN_LISTEN RESOLVERD_LOG_LEVEL
    return $status
}
