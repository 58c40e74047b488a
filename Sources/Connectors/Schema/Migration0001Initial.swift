import PGClient

/// The first schema: connectors with their encrypted credentials and refresh bookkeeping, grants in flight,
/// user API keys and the audit trail. Every secret column is `bytea` and holds ciphertext only.
enum Migration0001Initial {
    static let migration = PGMigration(version: 1, name: "initial schema", sql: sql)

    private static let sql = """
        CREATE TABLE connector_tokens (
            id                  text PRIMARY KEY,
            user_id             text NOT NULL,
            workspace_id        text,
            provider            text NOT NULL,
            type                text NOT NULL CHECK (type IN ('oauth', 'api_key')),
            status              text NOT NULL DEFAULT 'connected'
                                CHECK (status IN ('pending', 'connected', 'failed', 'needs_reauth', 'disabled')),
            role                text CHECK (role IN ('source', 'sink', 'primary_data_source', 'crm_sink')),
            -- Ciphertext (Crypto keyring values), bound to this table, row id and column.
            access_token        bytea,
            refresh_token       bytea,
            expires_at          timestamptz,
            scopes              text[] NOT NULL DEFAULT '{}',
            metadata            jsonb NOT NULL DEFAULT '{}',
            settings            jsonb NOT NULL DEFAULT '{}',
            health              text NOT NULL DEFAULT 'unknown' CHECK (health IN ('unknown', 'ok', 'failing')),
            last_checked_at     timestamptz,
            -- Refresh bookkeeping: when the next refresh is due, what happened last.
            next_refresh_at     timestamptz,
            last_refreshed_at   timestamptz,
            refresh_failures    integer NOT NULL DEFAULT 0 CHECK (refresh_failures >= 0),
            last_refresh_error  text,
            -- The replica refreshing this connector now, and until when its lease holds.
            lease_owner         text,
            lease_expires_at    timestamptz,
            -- Bumped on every change, so caches and fenced writes can tell versions apart.
            version             bigint NOT NULL DEFAULT 1,
            created_at          timestamptz NOT NULL DEFAULT now(),
            updated_at          timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT connector_tokens_user_provider UNIQUE (user_id, provider),
            CONSTRAINT connector_tokens_lease_pair CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
        );

        -- The refresh scan: connected OAuth connectors by due time.
        CREATE INDEX connector_tokens_refresh_due ON connector_tokens (next_refresh_at)
            WHERE status = 'connected' AND next_refresh_at IS NOT NULL;
        -- Listing a user's connectors in a stable order for cursor pagination.
        CREATE INDEX connector_tokens_user_list ON connector_tokens (user_id, created_at, id);
        CREATE INDEX connector_tokens_workspace ON connector_tokens (workspace_id) WHERE workspace_id IS NOT NULL;

        CREATE TABLE connector_grants (
            id                  text PRIMARY KEY,
            -- SHA-256 of the single-use OAuth state; the state itself is never stored.
            state_hash          bytea NOT NULL UNIQUE,
            user_id             text NOT NULL,
            workspace_id        text,
            provider            text NOT NULL,
            connector_id        text NOT NULL,
            redirect_uri        text,
            scopes              text[] NOT NULL DEFAULT '{}',
            -- Ciphertext of the PKCE verifier, where the provider uses PKCE.
            code_verifier       bytea,
            status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'connected', 'failed', 'expired')),
            error               text,
            expires_at          timestamptz NOT NULL,
            created_at          timestamptz NOT NULL DEFAULT now(),
            completed_at        timestamptz
        );
        CREATE INDEX connector_grants_expiry ON connector_grants (expires_at) WHERE status = 'pending';
        CREATE INDEX connector_grants_connector ON connector_grants (connector_id);

        CREATE TABLE api_keys (
            id                  text PRIMARY KEY,
            user_id             text NOT NULL,
            workspace_id        text,
            name                text NOT NULL DEFAULT '',
            -- SHA-256 of the whole key; `prefix` is the first characters, shown to tell keys apart.
            key_hash            bytea NOT NULL UNIQUE,
            prefix              text NOT NULL,
            created_at          timestamptz NOT NULL DEFAULT now(),
            last_used_at        timestamptz,
            revoked_at          timestamptz
        );
        CREATE INDEX api_keys_user ON api_keys (user_id);

        CREATE TABLE audit_events (
            id                  bigserial PRIMARY KEY,
            occurred_at         timestamptz NOT NULL DEFAULT now(),
            -- Who acted: a services-token name, a user id or the daemon itself. Never a credential.
            actor               text NOT NULL,
            action              text NOT NULL,
            outcome             text NOT NULL,
            connector_id        text,
            provider            text,
            user_id             text,
            detail              jsonb NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_events_time ON audit_events (occurred_at);
        CREATE INDEX audit_events_connector ON audit_events (connector_id, occurred_at) WHERE connector_id IS NOT NULL;
        """
}
