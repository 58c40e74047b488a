\set n random(1, 100000)
SELECT id, user_id, provider, type, status, access_token, refresh_token, expires_at, scopes, metadata
FROM connector_tokens WHERE id = 'ct_bench_' || :n;
