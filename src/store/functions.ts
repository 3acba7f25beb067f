import type { FunctionKind, FunctionSetting, FunctionSpec, FunctionVersion, InsertFunctionInstance } from '../functions/types.js';
import { functionType } from '../functions/types.js';
import { ControlPlaneConflictError } from './apply.js';
import type { Tx } from './db.js';
import { ControlPlaneNotFoundError } from './errors.js';
import { openSettings, sealSettings } from './secrets.js';

/**
 * Functions (Public API `FunctionsApi`): each save of code or settings adds a
 * version; deploying points the function at its latest version, which is what its
 * instances (destination-function destinations, insert-function instances, source
 * functions) run. Each write is one write transaction that bumps the control-plane
 * version (the `write` wrapper of admin.ts), so routers rebuild what changed.
 */
export interface NewFunction {
  id: string; kind: FunctionKind; displayName: string; description: string; logoUrl: string;
  code: string; settings: FunctionSetting[]; createdBy: string;
}
export interface FunctionPatch { displayName?: string; description?: string; logoUrl?: string; code?: string; settings?: FunctionSetting[]; by: string }
export interface NewInsertFunction { id: string; functionId: string; destinationId: string; name: string; enabled: boolean; settings: Record<string, unknown> }
export interface InsertFunctionPatch { name?: string; enabled?: boolean; settings?: Record<string, unknown> }

export interface FunctionAdmin {
  createFunction(f: NewFunction): Promise<void>;
  /** A new version when code or settings change; the name and description change in place. */
  updateFunction(id: string, patch: FunctionPatch): Promise<void>;
  /** Refused (conflict) while instances of it exist: they would lose their code. */
  deleteFunction(id: string): Promise<void>;
  /** Points the function at its latest version; resolves to that version. */
  deployFunction(id: string): Promise<number>;
  /** Copies an older version as the new latest one (not deployed). */
  restoreFunctionVersion(id: string, version: number, by: string): Promise<number>;
  listFunctionVersions(id: string): Promise<FunctionVersion[]>;
  createInsertFunction(i: NewInsertFunction): Promise<void>;
  updateInsertFunction(id: string, patch: InsertFunctionPatch): Promise<void>;
  deleteInsertFunction(id: string): Promise<void>;
}

type Write = <A extends unknown[], R>(fn: (tx: Tx, ...args: A) => Promise<R>) => (...args: A) => Promise<R>;
type Read = <R>(fn: (tx: Tx) => Promise<R>) => Promise<R>;

/** Setting names whose values are secrets, from the function's deployed (else latest) version. */
const sensitiveOf = (settings: readonly FunctionSetting[]) => settings.filter((s) => s.sensitive).map((s) => s.name);

export function createFunctionAdmin(secretKey: Buffer, write: Write, read: Read, workspaceId: (tx: Tx) => Promise<string>): FunctionAdmin {
  const row = async (tx: Tx, id: string) => {
    const r = await tx.selectFrom('cp_functions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new ControlPlaneNotFoundError(`no function ${id}`);
    return r;
  };
  const version = async (tx: Tx, id: string, v: number) => {
    const r = await tx.selectFrom('cp_function_versions').selectAll().where('function_id', '=', id).where('version', '=', v).executeTakeFirst();
    if (!r) throw new ControlPlaneNotFoundError(`function ${id} has no version ${v}`);
    return r;
  };
  const addVersion = async (tx: Tx, id: string, v: number, code: string, settings: readonly FunctionSetting[], by: string) => {
    await tx.insertInto('cp_function_versions').values({
      function_id: id, version: v, code, settings: JSON.stringify(settings), created_by: by, created_at: Date.now(),
    }).execute();
  };
  const insertRow = async (tx: Tx, id: string) => {
    const r = await tx.selectFrom('cp_insert_functions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new ControlPlaneNotFoundError(`no insert function instance ${id}`);
    return r;
  };
  const insertSecrets = async (tx: Tx, functionId: string) => {
    const f = await row(tx, functionId);
    const v = await version(tx, functionId, f.deployed_version ?? f.latest_version);
    return sensitiveOf(JSON.parse(v.settings) as FunctionSetting[]);
  };

  return {
    createFunction: write(async (tx, f: NewFunction) => {
      const now = Date.now();
      // The first version is deployed at once: a new function is ready to connect.
      await tx.insertInto('cp_functions').values({
        id: f.id, workspace_id: await workspaceId(tx), resource_type: f.kind, display_name: f.displayName, description: f.description,
        logo_url: f.logoUrl, latest_version: 1, deployed_version: 1, deployed_at: now, created_by: f.createdBy, created_at: now, updated_at: now,
      }).execute();
      await addVersion(tx, f.id, 1, f.code, f.settings, f.createdBy);
    }),
    updateFunction: write(async (tx, id: string, patch: FunctionPatch) => {
      const cur = await row(tx, id);
      let latest = cur.latest_version;
      if (patch.code !== undefined || patch.settings !== undefined) {
        const v = await version(tx, id, latest);
        latest += 1;
        await addVersion(tx, id, latest, patch.code ?? v.code, patch.settings ?? (JSON.parse(v.settings) as FunctionSetting[]), patch.by);
      }
      await tx.updateTable('cp_functions').set({
        display_name: patch.displayName ?? cur.display_name, description: patch.description ?? cur.description,
        logo_url: patch.logoUrl ?? cur.logo_url, latest_version: latest, updated_at: Date.now(),
      }).where('id', '=', id).execute();
    }),
    deleteFunction: write(async (tx, id: string) => {
      await row(tx, id);
      const users = await tx.selectFrom('cp_destinations').select('id').where('type', '=', functionType(id)).execute();
      const inserts = await tx.selectFrom('cp_insert_functions').select('id').where('function_id', '=', id).execute();
      const sources = await tx.selectFrom('cp_sources').select('id').where('metadata_id', '=', id).execute();
      const inUse = [...users.map((d) => `destination ${d.id}`), ...inserts.map((i) => `insert function instance ${i.id}`), ...sources.map((s) => `source ${s.id}`)];
      if (inUse.length > 0) throw new ControlPlaneConflictError(`function ${id} is in use by ${inUse.join(', ')}; delete those first`);
      await tx.deleteFrom('cp_function_versions').where('function_id', '=', id).execute();
      await tx.deleteFrom('cp_functions').where('id', '=', id).execute();
    }),
    deployFunction: write(async (tx, id: string) => {
      const cur = await row(tx, id);
      await tx.updateTable('cp_functions').set({ deployed_version: cur.latest_version, deployed_at: Date.now(), updated_at: Date.now() })
        .where('id', '=', id).execute();
      return cur.latest_version;
    }),
    restoreFunctionVersion: write(async (tx, id: string, v: number, by: string) => {
      const cur = await row(tx, id);
      const old = await version(tx, id, v);
      const latest = cur.latest_version + 1;
      await addVersion(tx, id, latest, old.code, JSON.parse(old.settings) as FunctionSetting[], by);
      await tx.updateTable('cp_functions').set({ latest_version: latest, updated_at: Date.now() }).where('id', '=', id).execute();
      return latest;
    }),
    listFunctionVersions: (id: string) => read(async (tx) => {
      await row(tx, id);
      const rows = await tx.selectFrom('cp_function_versions').selectAll().where('function_id', '=', id).orderBy('version', 'desc').execute();
      return rows.map(versionOf);
    }),
    createInsertFunction: write(async (tx, i: NewInsertFunction) => {
      const f = await row(tx, i.functionId);
      if (f.resource_type !== 'INSERT_DESTINATION') throw new ControlPlaneConflictError(`function ${i.functionId} is a ${f.resource_type} function, not an insert function`);
      const dest = await tx.selectFrom('cp_destinations').select('id').where('id', '=', i.destinationId).executeTakeFirst();
      if (!dest) throw new ControlPlaneNotFoundError(`no destination ${i.destinationId}`);
      const taken = await tx.selectFrom('cp_insert_functions').select('id').where('destination_id', '=', i.destinationId).executeTakeFirst();
      if (taken) throw new ControlPlaneConflictError(`destination ${i.destinationId} already has insert function instance ${taken.id} (one per destination)`);
      const secrets = await insertSecrets(tx, i.functionId);
      const now = Date.now();
      await tx.insertInto('cp_insert_functions').values({
        id: i.id, function_id: i.functionId, destination_id: i.destinationId, name: i.name, enabled: i.enabled ? 1 : 0,
        settings: sealSettings(secretKey, i.settings, secrets), secret_settings: JSON.stringify(secrets), created_at: now, updated_at: now,
      }).execute();
    }),
    updateInsertFunction: write(async (tx, id: string, patch: InsertFunctionPatch) => {
      const cur = await insertRow(tx, id);
      const secrets = await insertSecrets(tx, cur.function_id);
      const settings = patch.settings ?? openSettings(secretKey, cur.settings, JSON.parse(cur.secret_settings) as string[]);
      await tx.updateTable('cp_insert_functions').set({
        name: patch.name ?? cur.name, enabled: patch.enabled === undefined ? cur.enabled : patch.enabled ? 1 : 0,
        settings: sealSettings(secretKey, settings, secrets), secret_settings: JSON.stringify(secrets), updated_at: Date.now(),
      }).where('id', '=', id).execute();
    }),
    deleteInsertFunction: write(async (tx, id: string) => {
      await insertRow(tx, id);
      await tx.deleteFrom('cp_insert_functions').where('id', '=', id).execute();
    }),
  };
}

function versionOf(r: { version: number; code: string; settings: string; created_by: string; created_at: number }): FunctionVersion {
  return { version: Number(r.version), code: r.code, settings: JSON.parse(r.settings) as FunctionSetting[], createdAt: Number(r.created_at), createdBy: r.created_by };
}

/** The workspace's functions and insert-function instances (for the snapshot, inside its read transaction). */
export async function readFunctions(tx: Tx, secretKey: Buffer, workspaceId: string): Promise<{ functions: FunctionSpec[]; insertFunctions: InsertFunctionInstance[] }> {
  const rows = await tx.selectFrom('cp_functions').selectAll().where('workspace_id', '=', workspaceId).orderBy('id').execute();
  const versions = await tx.selectFrom('cp_function_versions as v').innerJoin('cp_functions as f', 'f.id', 'v.function_id')
    .select(['v.function_id', 'v.version', 'v.code', 'v.settings', 'v.created_by', 'v.created_at'])
    .where('f.workspace_id', '=', workspaceId)
    // Only the two a snapshot needs: the latest and the deployed.
    .where((eb) => eb.or([eb('v.version', '=', eb.ref('f.latest_version')), eb('v.version', '=', eb.ref('f.deployed_version'))]))
    .execute();
  const byKey = new Map(versions.map((v) => [`${v.function_id}/${v.version}`, versionOf(v)]));
  const functions = rows.map((r): FunctionSpec => {
    const latest = byKey.get(`${r.id}/${r.latest_version}`);
    if (!latest) throw new Error(`function ${r.id} lacks its latest version ${r.latest_version}`);
    const deployed = r.deployed_version === null ? undefined : byKey.get(`${r.id}/${r.deployed_version}`);
    return {
      id: r.id, kind: r.resource_type as FunctionKind, displayName: r.display_name, description: r.description, logoUrl: r.logo_url,
      latest, deployed: deployed ? { ...deployed, deployedAt: Number(r.deployed_at) } : null,
      createdAt: Number(r.created_at), createdBy: r.created_by,
    };
  });
  // The join drops instances whose destination is gone (SQLite without foreign keys).
  const inserts = await tx.selectFrom('cp_insert_functions as i').innerJoin('cp_destinations as d', 'd.id', 'i.destination_id')
    .selectAll('i').where('d.workspace_id', '=', workspaceId).orderBy('i.id').execute();
  const insertFunctions = inserts.map((r): InsertFunctionInstance => {
    let settings: Record<string, unknown>;
    try {
      settings = openSettings(secretKey, r.settings, JSON.parse(r.secret_settings) as string[]);
    } catch (err) {
      throw new Error(`cannot read the settings of insert function instance "${r.id}": ${(err as Error).message}`, { cause: err });
    }
    return {
      id: r.id, functionId: r.function_id, destinationId: r.destination_id, name: r.name, enabled: r.enabled === 1, settings,
      createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
    };
  });
  return { functions, insertFunctions };
}
