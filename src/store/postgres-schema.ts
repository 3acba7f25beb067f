/**
 * The PostgreSQL script of each control-plane migration, under the number of the
 * migration in ./sqlite-schema.ts (the list both backends run). They differ from
 * SQLite's only where types or features do: epoch-ms times are BIGINT, foreign
 * keys are DEFERRABLE INITIALLY DEFERRED (SQLite defers them per transaction with
 * a pragma), case-insensitive emails are a unique index on lower(email) (SQLite:
 * COLLATE NOCASE), the audit and alert-notification sequences are BIGSERIAL,
 * and there is no trigger for destination names (the queries copy a
 * destination's name onto its links).
 * Never edit one that has shipped; add the script of each new migration here.
 */
export const POSTGRES_MIGRATIONS: Readonly<Record<number, string>> = {
  1: `
      CREATE TABLE cp_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO cp_meta (key, value) VALUES ('version', '0');
      CREATE TABLE cp_workspaces (
        id TEXT PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        rate_limit_per_second INTEGER NOT NULL DEFAULT 0,
        origin TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE cp_sources (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES cp_workspaces(id) DEFERRABLE INITIALLY DEFERRED,
        slug TEXT NOT NULL,
        name TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        origin TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (workspace_id, slug)
      );
      CREATE TABLE cp_write_keys (
        write_key TEXT PRIMARY KEY,
        source_id TEXT NOT NULL REFERENCES cp_sources(id) DEFERRABLE INITIALLY DEFERRED
      );
      CREATE INDEX cp_write_keys_source ON cp_write_keys (source_id);
      CREATE TABLE cp_destinations (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES cp_workspaces(id) DEFERRABLE INITIALLY DEFERRED,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        settings TEXT NOT NULL,
        secret_settings TEXT NOT NULL,
        origin TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE cp_destination_sources (
        destination_id TEXT NOT NULL REFERENCES cp_destinations(id) DEFERRABLE INITIALLY DEFERRED,
        source_id TEXT NOT NULL REFERENCES cp_sources(id) DEFERRABLE INITIALLY DEFERRED,
        name TEXT NOT NULL,
        PRIMARY KEY (destination_id, source_id)
      );
      CREATE UNIQUE INDEX cp_destination_sources_name ON cp_destination_sources (source_id, name);
      CREATE INDEX cp_destination_sources_source ON cp_destination_sources (source_id);
  `,
  2: `
      ALTER TABLE cp_destinations ADD COLUMN filters TEXT NOT NULL DEFAULT '[]';
  `,
  3: `
      ALTER TABLE cp_sources ADD COLUMN metadata_id TEXT NOT NULL DEFAULT 'http-api';
      ALTER TABLE cp_sources ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
      ALTER TABLE cp_sources ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
      CREATE TABLE cp_labels (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        description TEXT,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (key, value)
      );
      INSERT INTO cp_labels (key, value, description, created_at) VALUES
        ('environment', 'dev', 'Development sources', 0),
        ('environment', 'qa', 'QA and staging sources', 0),
        ('environment', 'prod', 'Production sources', 0);
      CREATE TABLE cp_users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        permissions TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE UNIQUE INDEX cp_users_email ON cp_users (lower(email));
      CREATE TABLE cp_sessions (
        id_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES cp_users(id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX cp_sessions_user ON cp_sessions (user_id);
      CREATE TABLE cp_invites (
        token_hash TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        permissions TEXT NOT NULL,
        invited_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        accepted_at BIGINT
      );
      CREATE TABLE cp_tokens (
        id TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        permissions TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at BIGINT
      );
      CREATE TABLE cp_audit (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        ts BIGINT NOT NULL,
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
  4: `
      CREATE TABLE cp_warehouses (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES cp_workspaces(id) DEFERRABLE INITIALLY DEFERRED,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        settings TEXT NOT NULL,
        secret_settings TEXT NOT NULL,
        sync_overrides TEXT NOT NULL DEFAULT '[]',
        schedule TEXT,
        origin TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE cp_warehouse_sources (
        warehouse_id TEXT NOT NULL REFERENCES cp_warehouses(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        source_id TEXT NOT NULL REFERENCES cp_sources(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        PRIMARY KEY (warehouse_id, source_id)
      );
      CREATE INDEX cp_warehouse_sources_source ON cp_warehouse_sources (source_id);
  `,
  5: `
      CREATE TABLE cp_alert_rules (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'ok'
      );
      CREATE TABLE cp_alert_notifications (
        id BIGSERIAL PRIMARY KEY,
        alert_id TEXT NOT NULL,
        at BIGINT NOT NULL,
        status TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE TABLE cp_failure_log_collections (
        destination_id TEXT PRIMARY KEY,
        collection_id TEXT NOT NULL UNIQUE,
        enabled INTEGER NOT NULL,
        updated_at BIGINT NOT NULL
      );
  `,
  6: `
      CREATE TABLE cp_functions (
        id TEXT PRIMARY KEY,
        workspace_id TEXT NOT NULL REFERENCES cp_workspaces(id) DEFERRABLE INITIALLY DEFERRED,
        resource_type TEXT NOT NULL,
        display_name TEXT NOT NULL,
        description TEXT NOT NULL,
        logo_url TEXT NOT NULL,
        latest_version INTEGER NOT NULL,
        deployed_version INTEGER,
        deployed_at BIGINT,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE cp_function_versions (
        function_id TEXT NOT NULL REFERENCES cp_functions(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        version INTEGER NOT NULL,
        code TEXT NOT NULL,
        settings TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (function_id, version)
      );
      CREATE TABLE cp_insert_functions (
        id TEXT PRIMARY KEY,
        function_id TEXT NOT NULL REFERENCES cp_functions(id) DEFERRABLE INITIALLY DEFERRED,
        destination_id TEXT NOT NULL UNIQUE REFERENCES cp_destinations(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        name TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        settings TEXT NOT NULL,
        secret_settings TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
  `,
};
