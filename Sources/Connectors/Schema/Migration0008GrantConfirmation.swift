import PGClient

/// Grants bound to the browser session that started them (`oauth.require_confirmation`): a callback may hold the
/// tokens it obtained, sealed like every secret, until the user who started the grant confirms it with the
/// one-time code the callback handed to the web app. All additive: an older binary neither writes nor reads the
/// new status or columns.
enum Migration0008GrantConfirmation {
    static let migration = PGMigration(version: 8, name: "grant confirmation", sql: sql)

    private static let sql = """
        ALTER TABLE connector_grants DROP CONSTRAINT connector_grants_status_check;
        ALTER TABLE connector_grants ADD CONSTRAINT connector_grants_status_check
            CHECK (status IN ('pending', 'pending_confirmation', 'connected', 'failed', 'expired'));
        -- SHA-256 of the one-time confirmation code; the code itself is never stored.
        ALTER TABLE connector_grants ADD COLUMN confirm_code_hash bytea UNIQUE;
        ALTER TABLE connector_grants ADD COLUMN confirm_expires_at timestamptz;
        -- The held tokens: ciphertext bound to this table, row id and column, cleared once the grant is decided.
        ALTER TABLE connector_grants ADD COLUMN access_token bytea;
        ALTER TABLE connector_grants ADD COLUMN refresh_token bytea;
        ALTER TABLE connector_grants ADD COLUMN token_expires_at timestamptz;
        ALTER TABLE connector_grants ADD COLUMN granted_scopes text[];
        ALTER TABLE connector_grants ADD COLUMN metadata jsonb;
        CREATE INDEX connector_grants_confirmation ON connector_grants (confirm_expires_at) WHERE status = 'pending_confirmation';
        CREATE INDEX connector_grants_created ON connector_grants (created_at);
        """
}
