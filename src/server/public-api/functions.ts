import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { zodErrors } from '../../config/settings-check.js';
import { functionSettingsSchema } from '../../destinations/function/index.js';
import { compileFunction } from '../../functions/sandbox.js';
import { FunctionCodeError, type FunctionKind, type FunctionSpec, type FunctionVersion, type InsertFunctionInstance } from '../../functions/types.js';
import { actorName, canReadFunctions, canReadSource, canWriteFunctions, canWriteSources, forbidden, principalOf } from './access.js';
import { attempt, audit, currentSnapshot, randomToken, type PublicApiDeps } from './context.js';
import { apiError, apiErrors, pageOf, readBody, readPage } from './http.js';

/**
 * Segment's `FunctionsApi`: functions (source, destination, insert), their
 * versions and deployments, and insert-function instances. Destination-function
 * instances are destinations (`createDestination` with the function's `catalogId`
 * as `metadataId`); source-function instances are sources (`createSource` the same
 * way), whose webhook is `previewWebhookUrl`'s form with the source's token.
 */
const KINDS = ['DESTINATION', 'INSERT_DESTINATION', 'SOURCE'] as const;
const ID_PREFIX: Record<FunctionKind, string> = { DESTINATION: 'dfn_', INSERT_DESTINATION: 'ifnd_', SOURCE: 'sfn_' };
const MASK = '••••••••';

const settingSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z_$][\w$]*$/, 'a setting name is a JavaScript identifier (letters, digits, _ and $)'),
  label: z.string().min(1).max(200),
  description: z.string().max(2000).default(''),
  type: z.enum(['ARRAY', 'BOOLEAN', 'STRING', 'TEXT_MAP']),
  required: z.boolean().default(false),
  sensitive: z.boolean().default(false),
});
const settingsList = z.array(settingSchema).max(100).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((s, i) => {
    if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `setting "${s.name}" is declared twice` });
    seen.add(s.name);
  });
});
/** 120 characters: Segment's limit on an insert function's display name, kept for all kinds. */
const displayName = z.string().trim().min(1).max(120);
/** Code is stored and compiled in an isolate of 128 MB: 512 KB of source is plenty. */
const code = z.string().min(1).max(512 * 1024);

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** The webhook of a source function's instance: the source's write key, base64url, as Segment's `?b=` token. */
export const sourceFunctionToken = (writeKey: string) => Buffer.from(writeKey, 'utf8').toString('base64url');

function functionView(f: FunctionSpec, baseUrl: string) {
  return {
    id: f.id, resourceType: f.kind, createdAt: iso(f.createdAt), createdBy: f.createdBy, code: f.latest.code,
    deployedAt: iso(f.deployed?.deployedAt), settings: f.latest.settings, displayName: f.displayName,
    description: f.description, logoUrl: f.logoUrl, catalogId: f.id,
    isLatestVersion: f.deployed?.version === f.latest.version,
    batchMaxCount: 20,
    ...(f.kind === 'SOURCE' ? { previewWebhookUrl: `${baseUrl}/fn?b=<token of a source made from this function>` } : {}),
  };
}
const listItem = (f: FunctionSpec) => ({
  id: f.id, resourceType: f.kind, createdAt: iso(f.createdAt), createdBy: f.createdBy, displayName: f.displayName,
  description: f.description, logoUrl: f.logoUrl, catalogId: f.id,
});
const versionView = (f: FunctionSpec, v: FunctionVersion) => ({
  id: String(v.version), author: v.createdBy, code: v.code, isDeployed: f.deployed?.version === v.version,
  createdAt: iso(v.createdAt), updatedAt: iso(v.createdAt), ...(f.deployed?.version === v.version ? { deployedAt: iso(f.deployed.deployedAt) } : {}),
});

function instanceView(i: InsertFunctionInstance, f: FunctionSpec | undefined) {
  const sensitive = new Set((f?.deployed ?? f?.latest)?.settings.filter((s) => s.sensitive).map((s) => s.name) ?? []);
  const plain = Object.fromEntries(Object.entries(i.settings).filter(([k]) => !sensitive.has(k)));
  const secret = Object.fromEntries(Object.keys(i.settings).filter((k) => sensitive.has(k)).map((k) => [k, MASK]));
  return {
    id: i.id, name: i.name, integrationId: i.destinationId, classId: i.functionId, enabled: i.enabled,
    createdAt: iso(i.createdAt), updatedAt: iso(i.updatedAt), settings: plain, encryptedSettings: secret,
  };
}

/** Compiles the code in a sandbox once: a syntax error or a missing handler is a 400 naming `code`. */
async function checkCode(reply: FastifyReply, source: string, kind: FunctionKind): Promise<boolean> {
  try {
    const fn = await compileFunction(source, kind, { fetch: () => Promise.reject(new Error('no requests while checking code')) });
    fn.dispose();
    return true;
  } catch (err) {
    if (!(err instanceof FunctionCodeError)) throw err;
    apiError(reply, 400, 'validation', err.message, 'code');
    return false;
  }
}

export function registerFunctionsApi(app: FastifyInstance, deps: PublicApiDeps): void {
  type FnReq = FastifyRequest<{ Params: { functionId: string } }>;
  const baseUrl = (req: FastifyRequest) => `${req.protocol}://${req.headers.host ?? 'localhost'}`;
  const findFunction = async (req: FnReq, reply: FastifyReply, write = false): Promise<FunctionSpec | undefined> => {
    const p = principalOf(req);
    if (!canReadFunctions(p)) return void forbidden(reply, 'reading functions');
    if (write && !canWriteFunctions(p)) return void forbidden(reply, 'changing functions (Workspace Owner or Functions Admin)');
    const f = (await currentSnapshot(deps)).functions.find((x) => x.id === req.params.functionId);
    if (!f) return void apiError(reply, 404, 'not-found', `no function ${req.params.functionId}`);
    return f;
  };
  const reread = async (id: string) => (await currentSnapshot(deps)).functions.find((x) => x.id === id)!;

  app.post('/functions', async (req, reply) => {
    if (!canWriteFunctions(principalOf(req))) return forbidden(reply, 'creating functions (Workspace Owner or Functions Admin)');
    const body = readBody(req, reply, z.strictObject({
      code, settings: settingsList.default([]), displayName, logoUrl: z.string().max(2000).default(''),
      resourceType: z.enum(KINDS), description: z.string().max(2000).default(''),
    }));
    if (!body || !(await checkCode(reply, body.code, body.resourceType))) return reply;
    const id = `${ID_PREFIX[body.resourceType]}${randomToken(22)}`;
    await currentSnapshot(deps); // the workspace exists before the function refers to it
    const done = await attempt(reply, () => deps.store.admin.createFunction({
      id, kind: body.resourceType, displayName: body.displayName, description: body.description, logoUrl: body.logoUrl,
      code: body.code, settings: body.settings, createdBy: actorName(principalOf(req)),
    }));
    if (!done) return reply;
    const view = functionView(await reread(id), baseUrl(req));
    await audit(req, deps, 'Function Created', { id, type: 'function', name: body.displayName }, undefined, { ...view, code: undefined });
    deps.onChange();
    return { data: { function: view } };
  });

  app.get('/functions', async (req, reply) => {
    if (!canReadFunctions(principalOf(req))) return forbidden(reply, 'reading functions');
    const page = readPage(req, reply);
    if (!page) return reply;
    const kind = (req.query as Record<string, string | undefined>).resourceType;
    if (kind === undefined || !(KINDS as readonly string[]).includes(kind)) {
      return apiError(reply, 400, 'validation', `resourceType is required: one of ${KINDS.join(', ')}`, 'resourceType');
    }
    const out = pageOf((await currentSnapshot(deps)).functions.filter((f) => f.kind === kind), page);
    return { data: { functions: out.items.map(listItem), pagination: out.pagination } };
  });

  app.get<{ Params: { functionId: string } }>('/functions/:functionId', async (req, reply) => {
    const f = await findFunction(req, reply);
    return f ? { data: { function: functionView(f, baseUrl(req)) } } : reply;
  });

  app.patch<{ Params: { functionId: string } }>('/functions/:functionId', async (req, reply) => {
    const f = await findFunction(req, reply, true);
    if (!f) return reply;
    const body = readBody(req, reply, z.strictObject({
      code: code.optional(), settings: settingsList.optional(), displayName: displayName.optional(),
      logoUrl: z.string().max(2000).optional(), description: z.string().max(2000).optional(),
    }));
    if (!body || (body.code !== undefined && !(await checkCode(reply, body.code, f.kind)))) return reply;
    const done = await attempt(reply, () => deps.store.admin.updateFunction(f.id, { ...body, by: actorName(principalOf(req)) }));
    if (!done) return reply;
    const view = functionView(await reread(f.id), baseUrl(req));
    await audit(req, deps, 'Function Updated', { id: f.id, type: 'function', name: view.displayName });
    deps.onChange();
    return { data: { function: view } };
  });

  app.delete<{ Params: { functionId: string } }>('/functions/:functionId', async (req, reply) => {
    const f = await findFunction(req, reply, true);
    if (!f || !(await attempt(reply, () => deps.store.admin.deleteFunction(f.id)))) return reply;
    await audit(req, deps, 'Function Deleted', { id: f.id, type: 'function', name: f.displayName });
    deps.onChange();
    return { data: { status: 'SUCCESS' } };
  });

  app.post<{ Params: { functionId: string } }>('/functions/:functionId/deploy', async (req, reply) => {
    const f = await findFunction(req, reply, true);
    if (!f) return reply;
    const done = await attempt(reply, () => deps.store.admin.deployFunction(f.id));
    if (!done) return reply;
    await audit(req, deps, 'Function Deployed', { id: f.id, type: 'function', name: `${f.displayName} version ${done.value}` });
    deps.onChange();
    return { data: { functionDeployment: { status: 'SUCCESS' } } };
  });

  app.get<{ Params: { functionId: string } }>('/functions/:functionId/versions', async (req, reply) => {
    const f = await findFunction(req, reply);
    const page = f && readPage(req, reply);
    if (!f || !page) return reply;
    const out = pageOf(await deps.store.admin.listFunctionVersions(f.id), page);
    return { data: { versions: out.items.map((v) => versionView(f, v)), pagination: out.pagination } };
  });

  app.get<{ Params: { functionId: string; versionId: string } }>('/functions/:functionId/versions/:versionId', async (req, reply) => {
    const f = await findFunction(req, reply);
    if (!f) return reply;
    const v = (await deps.store.admin.listFunctionVersions(f.id)).find((x) => String(x.version) === req.params.versionId);
    return v ? { data: { version: versionView(f, v) } } : apiError(reply, 404, 'not-found', `function ${f.id} has no version ${req.params.versionId}`, 'versionId');
  });

  app.post<{ Params: { functionId: string } }>('/functions/:functionId/versions', async (req, reply) => {
    const f = await findFunction(req, reply, true);
    const body = f && readBody(req, reply, z.strictObject({ versionId: z.string().regex(/^\d+$/, 'a version id this API returned') }));
    if (!f || !body) return reply;
    const done = await attempt(reply, () => deps.store.admin.restoreFunctionVersion(f.id, Number(body.versionId), actorName(principalOf(req))));
    if (!done) return reply;
    const fresh = await reread(f.id);
    await audit(req, deps, 'Function Version Restored', { id: f.id, type: 'function', name: `${f.displayName} version ${body.versionId}` });
    deps.onChange();
    return { data: { version: versionView(fresh, fresh.latest) } };
  });

  registerInsertFunctionInstances(app, deps);
}

/** `…InsertFunctionInstance`: an insert function in front of one destination (one per destination). */
function registerInsertFunctionInstances(app: FastifyInstance, deps: PublicApiDeps): void {
  type InstReq = FastifyRequest<{ Params: { instanceId: string } }>;
  const find = async (req: InstReq, reply: FastifyReply, write = false) => {
    const snap = await currentSnapshot(deps);
    const i = snap.insertFunctions.find((x) => x.id === req.params.instanceId);
    const dest = i && snap.destinations.find((d) => d.id === i.destinationId);
    const p = principalOf(req);
    if (!i || !dest || !dest.sourceIds.some((s) => canReadSource(p, s))) return void apiError(reply, 404, 'not-found', `no insert function instance ${req.params.instanceId}`);
    if (write && !canWriteSources(p, dest.sourceIds)) return void forbidden(reply, `changes to the destination ${dest.id}`);
    return { instance: i, fn: snap.functions.find((f) => f.id === i.functionId) };
  };
  /** Settings checked against the function's declared settings; a masked secret keeps its stored value. */
  const checkSettings = (reply: FastifyReply, fn: FunctionSpec, given: Record<string, unknown>, current?: Record<string, unknown>) => {
    const merged = Object.fromEntries(Object.entries(given).map(([k, v]) => [k, v === MASK && current ? current[k] : v]));
    const parsed = functionSettingsSchema((fn.deployed ?? fn.latest).settings).safeParse(merged);
    if (parsed.success) return parsed.data;
    apiErrors(reply, 400, zodErrors(parsed.error.issues, ['settings']).map((e) => ({ type: 'validation', message: e.message, field: e.path })));
    return undefined;
  };

  app.post('/insert-function-instances', async (req, reply) => {
    const body = readBody(req, reply, z.strictObject({
      functionId: z.string().min(1), integrationId: z.string().min(1), enabled: z.boolean().default(true),
      name: displayName, settings: z.record(z.string(), z.unknown()).default({}),
    }));
    if (!body) return reply;
    const snap = await currentSnapshot(deps);
    const p = principalOf(req);
    const dest = snap.destinations.find((d) => d.id === body.integrationId && d.sourceIds.some((s) => canReadSource(p, s)));
    if (!dest) return apiError(reply, 404, 'not-found', `no destination ${body.integrationId}`, 'integrationId');
    if (!canWriteSources(p, dest.sourceIds)) return forbidden(reply, `changes to the destination ${dest.id}`);
    const fn = snap.functions.find((f) => f.id === body.functionId);
    if (!fn) return apiError(reply, 404, 'not-found', `no function ${body.functionId}`, 'functionId');
    if (fn.kind !== 'INSERT_DESTINATION') return apiError(reply, 400, 'validation', `function ${fn.id} is a ${fn.kind} function; an instance needs an INSERT_DESTINATION function`, 'functionId');
    const settings = checkSettings(reply, fn, body.settings);
    if (!settings) return reply;
    const id = randomToken(22);
    const done = await attempt(reply, () => deps.store.admin.createInsertFunction({
      id, functionId: fn.id, destinationId: dest.id, name: body.name, enabled: body.enabled, settings,
    }));
    if (!done) return reply;
    const view = instanceView((await currentSnapshot(deps)).insertFunctions.find((x) => x.id === id)!, fn);
    await audit(req, deps, 'Insert Function Instance Created', { id, type: 'insert-function-instance', name: body.name }, undefined, view);
    deps.onChange();
    return { data: { insertFunctionInstance: view } };
  });

  app.get('/insert-function-instances', async (req, reply) => {
    const page = readPage(req, reply);
    if (!page) return reply;
    const functionId = (req.query as Record<string, string | undefined>).functionId;
    if (!functionId) return apiError(reply, 400, 'validation', 'functionId is required', 'functionId');
    const snap = await currentSnapshot(deps);
    const p = principalOf(req);
    const visible = snap.insertFunctions.filter((i) => i.functionId === functionId &&
      snap.destinations.some((d) => d.id === i.destinationId && d.sourceIds.some((s) => canReadSource(p, s))));
    const fn = snap.functions.find((f) => f.id === functionId);
    const out = pageOf(visible, page);
    return { data: { instances: out.items.map((i) => instanceView(i, fn)), pagination: out.pagination } };
  });

  app.get<{ Params: { instanceId: string } }>('/insert-function-instances/:instanceId', async (req, reply) => {
    const found = await find(req, reply);
    return found ? { data: { insertFunctionInstance: instanceView(found.instance, found.fn) } } : reply;
  });

  app.patch<{ Params: { instanceId: string } }>('/insert-function-instances/:instanceId', async (req, reply) => {
    const found = await find(req, reply, true);
    const body = found && readBody(req, reply, z.strictObject({
      name: displayName.optional(), enabled: z.boolean().optional(), settings: z.record(z.string(), z.unknown()).optional(),
    }));
    if (!found || !body) return reply;
    const settings = body.settings && found.fn ? checkSettings(reply, found.fn, body.settings, found.instance.settings) : undefined;
    if (body.settings && !settings) return reply;
    const id = found.instance.id;
    const done = await attempt(reply, () => deps.store.admin.updateInsertFunction(id, {
      ...(body.name === undefined ? {} : { name: body.name }), ...(body.enabled === undefined ? {} : { enabled: body.enabled }),
      ...(settings ? { settings } : {}),
    }));
    if (!done) return reply;
    const view = instanceView((await currentSnapshot(deps)).insertFunctions.find((x) => x.id === id)!, found.fn);
    await audit(req, deps, 'Insert Function Instance Updated', { id, type: 'insert-function-instance', name: view.name });
    deps.onChange();
    return { data: { insertFunctionInstance: view } };
  });

  app.delete<{ Params: { instanceId: string } }>('/insert-function-instances/:instanceId', async (req, reply) => {
    const found = await find(req, reply, true);
    if (!found || !(await attempt(reply, () => deps.store.admin.deleteInsertFunction(found.instance.id)))) return reply;
    await audit(req, deps, 'Insert Function Instance Deleted', { id: found.instance.id, type: 'insert-function-instance', name: found.instance.name });
    deps.onChange();
    return { data: { status: 'SUCCESS' } };
  });
}
