\set n random(1, 100000)
SELECT id, user_id, workspace_id, provider, type, status, expires_at, scopes, metadata::text, version, created_at, updated_at, access_token
FROM connector_tokens WHERE user_id = 'u_' || :n AND provider = 'stripe';
