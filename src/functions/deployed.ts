import type { HttpRequest, RequestFn } from '../core/request.js';
import { compilePool } from './pool.js';
import type { CompiledFunction } from './sandbox.js';
import type { FunctionSpec, SandboxFetch } from './types.js';

/**
 * The deployed version of each function, compiled once per thread: a pool of
 * sandboxes per function (pool.ts), shared by its instances (destinations,
 * insert-function instances, sources made from it). A newer deploy compiles the
 * new code and frees the older sandboxes.
 */
const HTTP_METHODS = new Set<HttpRequest['method']>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** The code's `fetch`, through the thread's request function (timeouts, outbound overrides). */
function sandboxFetch(request: () => RequestFn): SandboxFetch {
  return async (req) => {
    const method = req.method.toUpperCase() as HttpRequest['method'];
    if (!HTTP_METHODS.has(method)) throw new Error(`fetch: method ${req.method} is not supported (GET, POST, PUT, PATCH, DELETE)`);
    const res = await request()({ method, url: req.url, headers: Object.fromEntries(req.headers), ...(req.body === undefined ? {} : { body: req.body }) });
    return { status: res.status, statusText: '', headers: Object.entries(res.headers), body: res.body, url: req.url };
  };
}

/** Sandboxes per function and thread (SWITCHYARD_FUNCTION_SANDBOXES): invocations in parallel, each with its own isolate. */
let poolSize = 4;
export function setFunctionSandboxes(n: number): void {
  poolSize = n;
}

const compiledById = new Map<string, { version: number; fn: Promise<CompiledFunction> }>();
let outbound: RequestFn | undefined;

/** Frees the sandboxes of functions no longer in the control plane (deleted): they would hold their isolates until the process ends. */
export function forgetFunctionsExcept(ids: ReadonlySet<string>): void {
  for (const [id, cur] of compiledById) {
    if (ids.has(id)) continue;
    compiledById.delete(id);
    void cur.fn.then((f) => f.dispose(), () => {});
  }
}

/** `spec`'s deployed code, compiled (a compile error is kept: the same code fails the same way until the next deploy). */
export function deployedFunction(spec: FunctionSpec, request: RequestFn): Promise<CompiledFunction> {
  outbound ??= request;
  const deployed = spec.deployed;
  if (!deployed) return Promise.reject(new Error(`function ${spec.id} has no deployed version`));
  const cur = compiledById.get(spec.id);
  if (cur && cur.version === deployed.version) return cur.fn;
  if (cur) void cur.fn.then((f) => f.dispose(), () => {});
  const fn = compilePool(deployed.code, spec.kind, { fetch: sandboxFetch(() => outbound!) }, poolSize);
  compiledById.set(spec.id, { version: deployed.version, fn });
  return fn;
}
