import PGClient

/// Audit events are stored in batches: one row per flush of the audit writer and per (actor, action, outcome),
/// holding the events' times, connectors, providers and users as parallel arrays. Every resolve is an audit
/// event, and a row each cost the database ~3 µs of CPU per resolve (heap tuple, WAL record, key); a batch of a
/// few thousand events is one tuple whose arrays go to TOAST uncompressed (STORAGE EXTERNAL: compressing them saved
/// little and cost CPU), about half of that per event, and takes ~55 bytes of disk per event instead of ~150.
/// ANALYZE collects no statistics on the arrays: nothing filters on them, and with them each automatic analyze
/// (every few thousand batches) read back its whole sample's arrays, seconds of the database's CPU.
///
/// The rows written before this migration stay in `audit_events_before_batches`. `audit_events` becomes a view
/// with one row per event over both, so queries written for the table keep working; `audit_events_between`
/// reads only the batches whose time span meets the asked range, through the BRIN index on that span.
enum Migration0006AuditBatches {
    static let migration = PGMigration(version: 6, name: "audit events in batches", sql: sql)

    private static let sql = """
        ALTER TABLE audit_events RENAME TO audit_events_before_batches;
        ALTER INDEX audit_events_pkey RENAME TO audit_events_before_batches_pkey;
        ALTER INDEX audit_events_time RENAME TO audit_events_before_batches_time;
        CREATE TABLE audit_batches (
            id              bigserial PRIMARY KEY,
            first_at        timestamptz NOT NULL,
            last_at         timestamptz NOT NULL,
            -- Who acted: a services-token name, a user id or the daemon itself. Never a credential.
            actor           text NOT NULL,
            action          text NOT NULL,
            outcome         text NOT NULL,
            -- One element per event, in the same order in each array.
            occurred_at     timestamptz[] NOT NULL,
            connector_id    text[] NOT NULL,
            provider        text[] NOT NULL,
            user_id         text[] NOT NULL
        );
        ALTER TABLE audit_batches
            ALTER occurred_at SET STORAGE EXTERNAL, ALTER occurred_at SET STATISTICS 0,
            ALTER connector_id SET STORAGE EXTERNAL, ALTER connector_id SET STATISTICS 0,
            ALTER provider SET STORAGE EXTERNAL, ALTER provider SET STATISTICS 0,
            ALTER user_id SET STORAGE EXTERNAL, ALTER user_id SET STATISTICS 0;
        CREATE INDEX audit_batches_time ON audit_batches USING brin (first_at, last_at);
        CREATE VIEW audit_events AS
            SELECT occurred_at, actor, action, outcome, connector_id, provider, user_id
            FROM audit_events_before_batches
            UNION ALL
            SELECT event.occurred_at, batch.actor, batch.action, batch.outcome, event.connector_id, event.provider, event.user_id
            FROM audit_batches AS batch,
                unnest(batch.occurred_at, batch.connector_id, batch.provider, batch.user_id)
                    AS event (occurred_at, connector_id, provider, user_id);
        CREATE FUNCTION audit_events_between(since timestamptz, until timestamptz)
            RETURNS TABLE (occurred_at timestamptz, actor text, action text, outcome text, connector_id text, provider text, user_id text)
            LANGUAGE sql STABLE AS $$
                SELECT old.occurred_at, old.actor, old.action, old.outcome, old.connector_id, old.provider, old.user_id
                FROM audit_events_before_batches AS old
                WHERE old.occurred_at >= since AND old.occurred_at < until
                UNION ALL
                SELECT event.occurred_at, batch.actor, batch.action, batch.outcome, event.connector_id, event.provider, event.user_id
                FROM audit_batches AS batch,
                    unnest(batch.occurred_at, batch.connector_id, batch.provider, batch.user_id)
                        AS event (occurred_at, connector_id, provider, user_id)
                WHERE batch.last_at >= since AND batch.first_at < until
                    AND event.occurred_at >= since AND event.occurred_at < until
            $$;
        """
}
