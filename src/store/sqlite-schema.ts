/**
 * Control-plane schema as an append-only list of migrations.
 *
 * The SQLite file is shared with other modules (the event log, ...), so every
 * table here is prefixed `cp_` and `schema_migrations` is keyed by component:
 * each module records its own migrations there and never touches the others'.
 * Never edit a migration that has shipped; append a new one.
 *
 * Both backends run this one numbered list (./migrate.ts): the SQL here is the
 * SQLite script; each migration also needs its PostgreSQL script, under the same
 * number in ./postgres-schema.ts (the same text when it is portable; else where
 * types differ: BIGINT epoch-ms times, ...). Opening a PostgreSQL store refuses
 * to start when one is missing.
 */
export const COMPONENT = 'control_plane';

export interface Migration { version: number; name: string; sql: string }

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial control plane',
    sql: `
      -- value has no declared type so it can hold the version (integer) and ids (text).
      CREATE TABLE cp_meta (key TEXT PRIMARY KEY, value NOT NULL);
      INSERT INTO cp_meta (key, value) VALUES ('version', 0);

      CREATE TABLE cp_workspaces (
        id TEXT PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        rate_limit_per_second INTEGER NOT NULL DEFAULT 0,
        origin TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );

      CREATE TABLE cp_sources (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES cp_workspaces(id),
        slug TEXT NOT NULL,
        name TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        origin TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (workspace_id, slug)
      );

      -- The primary key makes a write key map to exactly one source.
      CREATE TABLE cp_write_keys (
        write_key TEXT PRIMARY KEY,
        source_id TEXT NOT NULL REFERENCES cp_sources(id)
      );
      CREATE INDEX cp_write_keys_source ON cp_write_keys (source_id);

      -- settings: JSON; values of the keys in secret_settings are enc:v1: ciphertext.
      CREATE TABLE cp_destinations (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES cp_workspaces(id),
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        settings TEXT NOT NULL,
        secret_settings TEXT NOT NULL,
        origin TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );

      -- name copies cp_destinations.name so that a unique index can enforce
      -- "instance name unique per source"; the trigger keeps the copy current.
      CREATE TABLE cp_destination_sources (
        destination_id TEXT NOT NULL REFERENCES cp_destinations(id),
        source_id TEXT NOT NULL REFERENCES cp_sources(id),
        name TEXT NOT NULL,
        PRIMARY KEY (destination_id, source_id)
      );
      CREATE UNIQUE INDEX cp_destination_sources_name ON cp_destination_sources (source_id, name);
      CREATE INDEX cp_destination_sources_source ON cp_destination_sources (source_id);
      CREATE TRIGGER cp_destination_name_sync AFTER UPDATE OF name ON cp_destinations
      BEGIN
        UPDATE cp_destination_sources SET name = NEW.name WHERE destination_id = NEW.id;
      END;
    `,
  },
  {
    version: 2,
    name: 'destination filters',
    // JSON array of SavedFilter (each filter with the time it was last saved).
    sql: `ALTER TABLE cp_destinations ADD COLUMN filters TEXT NOT NULL DEFAULT '[]';`,
  },
  {
    version: 3,
    name: 'public api: source metadata and labels, labels, users, sessions, invites, tokens, audit trail',
    sql: `
      -- Which catalog source a source was made from (Public API metadataId), its
      -- settings and labels (JSON array of {key, value}).
      ALTER TABLE cp_sources ADD COLUMN metadata_id TEXT NOT NULL DEFAULT 'http-api';
      ALTER TABLE cp_sources ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
      ALTER TABLE cp_sources ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';

      CREATE TABLE cp_labels (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        description TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (key, value)
      );
      INSERT INTO cp_labels (key, value, description, created_at) VALUES
        ('environment', 'dev', 'Development sources', 0),
        ('environment', 'qa', 'QA and staging sources', 0),
        ('environment', 'prod', 'Production sources', 0);

      -- permissions: JSON array of {roleId, resources: [{type, id}]}.
      CREATE TABLE cp_users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        permissions TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      -- Only hashes of secrets are stored: session ids, invite and API tokens.
      CREATE TABLE cp_sessions (
        id_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES cp_users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX cp_sessions_user ON cp_sessions (user_id);
      CREATE TABLE cp_invites (
        token_hash TEXT PRIMARY KEY,
        email TEXT NOT NULL COLLATE NOCASE,
        permissions TEXT NOT NULL,
        invited_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        accepted_at INTEGER
      );
      CREATE TABLE cp_tokens (
        id TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        permissions TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at INTEGER
      );
      -- before/after: JSON snapshots of the resource without secrets (null on create/delete).
      CREATE TABLE cp_audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        ts INTEGER NOT NULL,
        type TEXT NOT NULL,
        actor TEXT NOT NULL,
        actor_email TEXT,
        resource_id TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_name TEXT NOT NULL,
        before TEXT,
        after TEXT
      );
      CREATE INDEX cp_audit_ts ON cp_audit (ts);
    `,
  },
  {
    version: 4,
    name: 'public api: warehouses',
    sql: `
      -- Warehouses created through the Public API (the workspace file's stay in memory).
      -- settings: JSON; values of the keys in secret_settings are enc:v1: ciphertext.
      -- sync_overrides: JSON array of {sourceId, collection?, property?, enabled};
      -- schedule: JSON {enabled, timezone, times: [{hourOfDay, enabled}]} or NULL.
      CREATE TABLE cp_warehouses (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES cp_workspaces(id),
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        settings TEXT NOT NULL,
        secret_settings TEXT NOT NULL,
        sync_overrides TEXT NOT NULL DEFAULT '[]',
        schedule TEXT,
        origin TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE cp_warehouse_sources (
        warehouse_id TEXT NOT NULL REFERENCES cp_warehouses(id) ON DELETE CASCADE,
        source_id TEXT NOT NULL REFERENCES cp_sources(id) ON DELETE CASCADE,
        PRIMARY KEY (warehouse_id, source_id)
      );
      CREATE INDEX cp_warehouse_sources_source ON cp_warehouse_sources (source_id);
    `,
  },
  {
    version: 5,
    name: 'alert rules, alert notifications, failure-log collections',
    sql: `
      -- These lived in each process's stats.db, so processes with their own DATA_DIR
      -- did not see each other's (src/server/move-to-store.ts imports them once).
      -- body: the rule as JSON, as the API took it; state: ok or firing.
      CREATE TABLE cp_alert_rules (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'ok'
      );
      -- No foreign key: a deleted rule's notifications stay in the list.
      CREATE TABLE cp_alert_notifications (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        status TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE TABLE cp_failure_log_collections (
        destination_id TEXT PRIMARY KEY,
        collection_id TEXT NOT NULL UNIQUE,
        enabled INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'functions: source, destination and insert functions',
    sql: `
      -- A function's versions never change: saving code adds one, deploying points
      -- deployed_version at the latest (instances run the deployed one).
      CREATE TABLE cp_functions (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES cp_workspaces(id),
        resource_type TEXT NOT NULL,
        display_name TEXT NOT NULL,
        description TEXT NOT NULL,
        logo_url TEXT NOT NULL,
        latest_version INTEGER NOT NULL,
        deployed_version INTEGER,
        deployed_at INTEGER,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      -- settings: JSON array of FunctionSettingV1.
      CREATE TABLE cp_function_versions (
        function_id TEXT NOT NULL REFERENCES cp_functions(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        code TEXT NOT NULL,
        settings TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (function_id, version)
      );
      -- One insert function per destination (Segment's rule); settings as destinations' (secrets sealed).
      CREATE TABLE cp_insert_functions (
        id TEXT PRIMARY KEY,
        function_id TEXT NOT NULL REFERENCES cp_functions(id),
        destination_id TEXT NOT NULL UNIQUE REFERENCES cp_destinations(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        settings TEXT NOT NULL,
        secret_settings TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
];
