/**
 * Registry schema as numbered migrations, applied in order inside a transaction and recorded
 * in `schema_migrations`. Append only: never edit a migration that has shipped. SQL stays
 * portable (no SQLite-only types) so the same schema can move to PostgreSQL.
 */
export const migrations: { id: number; name: string; sql: string }[] = [
  {
    id: 1,
    name: 'models, versions, devices',
    sql: `
      CREATE TABLE models (
        name TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE versions (
        model TEXT NOT NULL REFERENCES models(name),
        version INTEGER NOT NULL,
        channel TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        format TEXT NOT NULL,
        runtime TEXT NOT NULL,
        metrics_json TEXT NOT NULL,
        envelope_json TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (model, version)
      );
      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        online INTEGER NOT NULL,
        state TEXT NOT NULL,
        model TEXT,
        version INTEGER,
        previous_version INTEGER,
        health TEXT NOT NULL,
        last_error TEXT,
        last_seen TEXT NOT NULL,
        status_json TEXT NOT NULL
      );
    `,
  },
  {
    id: 2,
    name: 'device credentials, enrolment tokens, failed versions per device',
    sql: `
      CREATE TABLE device_credentials (
        device_id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE enroll_tokens (
        token_hash TEXT PRIMARY KEY,
        expires_at TEXT NOT NULL,
        used_at TEXT,
        device_id TEXT
      );
      CREATE TABLE device_failures (
        device_id TEXT NOT NULL,
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (device_id, model, version)
      );
    `,
  },
];
