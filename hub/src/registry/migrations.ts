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
  {
    id: 3,
    name: 'telemetry, feedback, device tags, benchmarks, rollouts',
    sql: `
      ALTER TABLE devices ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE versions ADD COLUMN fingerprint TEXT;
      CREATE TABLE telemetry (
        device_id TEXT NOT NULL,
        id TEXT NOT NULL,
        model TEXT NOT NULL,
        version INTEGER,
        period_from TEXT NOT NULL,
        period_to TEXT NOT NULL,
        requests INTEGER NOT NULL,
        rows_served INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        evicted INTEGER NOT NULL,
        latency_json TEXT NOT NULL,
        predictions_json TEXT NOT NULL,
        features_json TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (device_id, id)
      );
      CREATE INDEX telemetry_by_version ON telemetry (model, version);
      CREATE TABLE feedback (
        device_id TEXT NOT NULL,
        id TEXT NOT NULL,
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        prediction_id TEXT NOT NULL,
        label TEXT NOT NULL,
        predicted TEXT NOT NULL,
        correct INTEGER NOT NULL,
        row_json TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (device_id, id)
      );
      CREATE INDEX feedback_by_version ON feedback (model, version);
      CREATE TABLE benchmarks (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        device_id TEXT NOT NULL,
        result_json TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (model, version, device_id)
      );
      CREATE TABLE rollouts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        channel TEXT NOT NULL,
        version INTEGER NOT NULL,
        from_version INTEGER,
        plan_json TEXT NOT NULL,
        state TEXT NOT NULL,
        wave INTEGER NOT NULL,
        wave_started_at TEXT,
        devices_json TEXT NOT NULL,
        reason TEXT,
        requested TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    id: 4,
    name: 'desired state per model channel and per device',
    // device_id '' is the whole channel (a NULL in a primary key is not portable).
    sql: `
      CREATE TABLE desired_releases (
        model TEXT NOT NULL,
        channel TEXT NOT NULL,
        device_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        envelope_json TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (model, channel, device_id)
      );
    `,
  },
  {
    id: 5,
    name: 'device liveness apart from status',
    sql: `
      CREATE TABLE device_liveness (
        device_id TEXT PRIMARY KEY,
        online INTEGER NOT NULL,
        changed_at TEXT NOT NULL,
        last_contact TEXT NOT NULL
      );
    `,
  },
  {
    id: 10,
    name: 'enrolment scopes; telemetry indexed by device and arrival for bounded analysis',
    sql: `
      ALTER TABLE enroll_tokens ADD COLUMN scope_json TEXT;
      ALTER TABLE device_credentials ADD COLUMN scope_json TEXT;
      CREATE INDEX telemetry_recent ON telemetry (model, version, received_at);
      CREATE INDEX telemetry_device_recent ON telemetry (device_id, model, version, received_at);
    `,
  },
  {
    id: 20,
    name: 'change counters: the rollout controller reads what changed since its last tick',
    // A counter of its own rather than MAX(change_seq) + 1: deleting the newest device must not
    // hand an already-seen number out again.
    sql: `
      CREATE TABLE registry_counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
      INSERT INTO registry_counters (name, value) VALUES ('devices', 0);
      ALTER TABLE devices ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX devices_changed ON devices (change_seq);
      ALTER TABLE rollouts ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    id: 40,
    name: 'retraining runs and the lineage of every version; feedback by model and time',
    sql: `
      CREATE TABLE retrain_runs (
        id INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        trigger_json TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        parent_version INTEGER,
        version INTEGER,
        summary TEXT,
        result_json TEXT
      );
      CREATE INDEX retrain_runs_by_model ON retrain_runs (model, id);
      CREATE TABLE version_lineage (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        run_id INTEGER,
        parent_version INTEGER,
        trigger_json TEXT NOT NULL,
        base_sha256 TEXT,
        feedback_sha256 TEXT,
        config_json TEXT NOT NULL,
        edgeml_version TEXT NOT NULL,
        metrics_json TEXT NOT NULL,
        gates_json TEXT NOT NULL,
        challenge_json TEXT,
        created_at TEXT NOT NULL,
        PRIMARY KEY (model, version)
      );
      CREATE INDEX feedback_by_model_at ON feedback (model, at);
    `,
  },
];
