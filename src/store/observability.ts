import type { ControlPlaneDb } from './db.js';
import type { AlertRuleBody, AlertState, ControlPlaneStore, FailureLogCollection, StoredAlertNotification, StoredAlertRule } from './types.js';

/**
 * Alert rules, their in-app notifications and failure-log collection per
 * destination (migration 5). Plain queries on each call: they are read once a
 * second at most (the router, the alert checks), and a cache would only delay
 * what another process wrote.
 */
export type ObservabilityStore = Pick<ControlPlaneStore,
  | 'listAlertRules' | 'getAlertRule' | 'putAlertRule' | 'deleteAlertRule' | 'setAlertRuleState'
  | 'addAlertNotification' | 'listAlertNotifications'
  | 'getFailureLogCollection' | 'putFailureLogCollection' | 'failureLogCollectionById' | 'enabledFailureLogCollections'>;

/** Rows of the tables these replace in stats.db, as they are there (see importLegacyObservability). */
export interface LegacyObservabilityRows {
  alertRules: { id: string; body: string; state: string }[];
  /** In id order: the import keeps the order, not the ids. */
  alertNotifications: { alert_id: string; at: number; status: string; message: string }[];
  failureLogCollections: { destination_id: string; collection_id: string; enabled: number; updated_at: number }[];
}

export interface LegacyImportReport { alertRules: number; alertNotifications: number; failureLogCollections: number }

// Rows per INSERT: well under SQLite's and PostgreSQL's parameter limits.
const CHUNK = 200;

const ruleOf = (r: { body: string; state: string }): StoredAlertRule => ({ rule: JSON.parse(r.body) as AlertRuleBody, state: r.state as AlertState });
const collectionOf = (r: { destination_id: string; collection_id: string; enabled: number; updated_at: number }): FailureLogCollection => ({
  destinationId: r.destination_id, collectionId: r.collection_id, enabled: r.enabled === 1, updatedAt: r.updated_at,
});

export function createObservabilityStore(cp: ControlPlaneDb): ObservabilityStore & {
  importLegacyObservability(rows: LegacyObservabilityRows): Promise<LegacyImportReport>;
} {
  const { db } = cp;
  const collection = (column: 'destination_id' | 'collection_id', value: string) =>
    db.selectFrom('cp_failure_log_collections').selectAll().where(column, '=', value).executeTakeFirst();
  return {
    async listAlertRules() {
      return (await db.selectFrom('cp_alert_rules').select(['body', 'state']).orderBy('id').execute()).map(ruleOf);
    },
    async getAlertRule(id) {
      const row = await db.selectFrom('cp_alert_rules').select(['body', 'state']).where('id', '=', id).executeTakeFirst();
      return row && ruleOf(row);
    },
    async putAlertRule(rule) {
      await db.insertInto('cp_alert_rules').values({ id: rule.id, body: JSON.stringify(rule) })
        .onConflict((oc) => oc.column('id').doUpdateSet({ body: (eb) => eb.ref('excluded.body') })).execute();
    },
    async deleteAlertRule(id) {
      const res = await db.deleteFrom('cp_alert_rules').where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
    async setAlertRuleState(id, state) {
      await db.updateTable('cp_alert_rules').set({ state }).where('id', '=', id).execute();
    },
    async addAlertNotification(n) {
      const row = await db.insertInto('cp_alert_notifications')
        .values({ alert_id: n.alertId, at: n.at, status: n.status, message: n.message }).returning('id').executeTakeFirstOrThrow();
      return Number(row.id);
    },
    async listAlertNotifications(limit) {
      const rows = await db.selectFrom('cp_alert_notifications').selectAll().orderBy('id', 'desc').limit(limit).execute();
      return rows.map((r): StoredAlertNotification => ({
        id: Number(r.id), alertId: r.alert_id, at: Number(r.at), status: r.status as StoredAlertNotification['status'], message: r.message,
      }));
    },
    async getFailureLogCollection(destinationId) {
      const row = await collection('destination_id', destinationId);
      return row && collectionOf(row);
    },
    async putFailureLogCollection(c) {
      // Two processes turning on the same destination at once: one id wins, both answer it.
      await db.insertInto('cp_failure_log_collections')
        .values({ destination_id: c.destinationId, collection_id: c.collectionId, enabled: c.enabled ? 1 : 0, updated_at: c.updatedAt })
        .onConflict((oc) => oc.column('destination_id').doUpdateSet({
          enabled: (eb) => eb.ref('excluded.enabled'), updated_at: (eb) => eb.ref('excluded.updated_at'),
        })).execute();
      const row = await collection('destination_id', c.destinationId);
      if (!row) throw new Error(`the failure-log collection of destination ${c.destinationId} vanished while it was written`);
      return collectionOf(row);
    },
    async failureLogCollectionById(collectionId) {
      const row = await collection('collection_id', collectionId);
      return row && collectionOf(row);
    },
    async enabledFailureLogCollections() {
      const rows = await db.selectFrom('cp_failure_log_collections').select(['destination_id', 'collection_id']).where('enabled', '=', 1).execute();
      return new Map(rows.map((r) => [r.destination_id, r.collection_id]));
    },

    /**
     * Copies the rows an older version kept in stats.db, table by table, into a
     * store table that is still empty (a table that has rows was imported already
     * or written since: left as it is). Under the migration lock, so two processes
     * starting together never both import.
     */
    importLegacyObservability(rows) {
      return cp.migrationLock(async (tx) => {
        const empty = async (table: 'cp_alert_rules' | 'cp_alert_notifications' | 'cp_failure_log_collections') =>
          Number((await tx.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n) === 0;
        const report: LegacyImportReport = { alertRules: 0, alertNotifications: 0, failureLogCollections: 0 };
        const chunks = <T>(list: T[]) => Array.from({ length: Math.ceil(list.length / CHUNK) }, (_, i) => list.slice(i * CHUNK, (i + 1) * CHUNK));
        if (rows.alertRules.length > 0 && (await empty('cp_alert_rules'))) {
          for (const part of chunks(rows.alertRules)) await tx.insertInto('cp_alert_rules').values(part.map((r) => ({ id: r.id, body: r.body, state: r.state }))).execute();
          report.alertRules = rows.alertRules.length;
        }
        if (rows.alertNotifications.length > 0 && (await empty('cp_alert_notifications'))) {
          for (const part of chunks(rows.alertNotifications)) {
            await tx.insertInto('cp_alert_notifications')
              .values(part.map((r) => ({ alert_id: r.alert_id, at: r.at, status: r.status, message: r.message }))).execute();
          }
          report.alertNotifications = rows.alertNotifications.length;
        }
        if (rows.failureLogCollections.length > 0 && (await empty('cp_failure_log_collections'))) {
          for (const part of chunks(rows.failureLogCollections)) await tx.insertInto('cp_failure_log_collections').values(part).execute();
          report.failureLogCollections = rows.failureLogCollections.length;
        }
        return report;
      });
    },
  };
}
