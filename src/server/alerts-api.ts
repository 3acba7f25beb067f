import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { alertInput, type AlertNotification, type AlertRule } from '../observability/alerts.js';
import type { ControlPlaneStore, StoredAlertRule } from '../store/types.js';
import { alertTarget, mayRead, mayWrite, readsWorkspace } from './source-scope.js';

export interface AlertsApiDeps {
  /** Holds the rules and notifications too, so every API process shows the same ones. */
  store: ControlPlaneStore;
  /** Email channels need an SMTP server; without one they are refused at creation. */
  emailConfigured: boolean;
  /** Who is acting: until users and tokens exist (issue #7), the admin token or nobody. */
  actor: (req: FastifyRequest) => string;
}

/** Alerts: create, list, edit, delete, and the in-app notifications. */
export function registerAlertsApi(app: FastifyInstance, deps: AlertsApiDeps): void {
  const view = ({ rule, state }: StoredAlertRule) => ({ ...(rule as AlertRule), state });
  const errors = (reply: FastifyReply, status: number, list: { message: string; field?: string }[]) =>
    reply.code(status).send({ errors: list.map((e) => ({ type: status === 404 ? 'not-found' : 'validation', ...e })) });

  /** Validates a rule against the schema and the current control plane. */
  const check = (raw: unknown): { ok: true; value: ReturnType<typeof alertInput.parse> } | { ok: false; errors: { message: string; field?: string }[] } => {
    const parsed = alertInput.safeParse(raw);
    if (!parsed.success) return { ok: false, errors: parsed.error.issues.map((i) => ({ message: i.message, field: i.path.join('.') || 'body' })) };
    const v = parsed.data;
    let snapshot;
    try {
      snapshot = deps.store.snapshot();
    } catch {
      return { ok: false, errors: [{ message: 'no workspace is configured yet' }] };
    }
    if (v.kind === 'source_volume' && !snapshot.sources.some((s) => s.id === v.sourceId)) return { ok: false, errors: [{ message: `no source ${v.sourceId}`, field: 'sourceId' }] };
    if (v.kind === 'delivery_rate' && !snapshot.destinations.some((d) => d.id === v.destinationId)) {
      return { ok: false, errors: [{ message: `no destination ${v.destinationId}`, field: 'destinationId' }] };
    }
    if (!deps.emailConfigured && v.channels.some((c) => c.type === 'email')) {
      return { ok: false, errors: [{ message: 'email alerts need an SMTP server: set SWITCHYARD_SMTP_URL', field: 'channels' }] };
    }
    return { ok: true, value: v };
  };
  const body = (req: FastifyRequest): unknown => {
    try {
      return JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '');
    } catch {
      return undefined;
    }
  };

  // A role scoped to some sources sees the alerts on them (source-scope.ts checks the routes of one alert).
  const visible = (req: FastifyRequest, rule: StoredAlertRule['rule']) => mayRead(req.principal, alertTarget(deps, rule) ?? []);
  app.get('/api/v1/alerts', async (req) => ({ data: { alerts: (await deps.store.listAlertRules()).filter((r) => visible(req, r.rule)).map(view) } }));

  app.post('/api/v1/alerts', async (req, reply) => {
    const checked = check(body(req));
    if (!checked.ok) return errors(reply, 400, checked.errors);
    const now = new Date().toISOString();
    const rule: AlertRule = { ...checked.value, id: `alert_${randomBytes(9).toString('base64url')}`, createdBy: deps.actor(req), createdAt: now, updatedAt: now };
    await deps.store.putAlertRule(rule);
    return reply.code(201).send({ data: { alert: { ...rule, state: 'ok' } } });
  });

  app.get<{ Params: { id: string } }>('/api/v1/alerts/:id', async (req, reply) => {
    const stored = await deps.store.getAlertRule(req.params.id);
    return stored ? { data: { alert: view(stored) } } : errors(reply, 404, [{ message: `no alert ${req.params.id}` }]);
  });

  app.patch<{ Params: { id: string } }>('/api/v1/alerts/:id', async (req, reply) => {
    const stored = await deps.store.getAlertRule(req.params.id);
    if (!stored) return errors(reply, 404, [{ message: `no alert ${req.params.id}` }]);
    const { id, createdBy, createdAt, updatedAt: _u, ...editable } = stored.rule as AlertRule;
    const patch = body(req);
    if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return errors(reply, 400, [{ message: 'the body must be a JSON object', field: 'body' }]);
    const checked = check({ ...editable, ...patch });
    if (!checked.ok) return errors(reply, 400, checked.errors);
    if (!mayWrite(req.principal, alertTarget(deps, checked.value) ?? [])) {
      return reply.code(403).send({ errors: [{ type: 'forbidden', message: 'your role does not allow moving this alert to that source or destination' }] });
    }
    const rule: AlertRule = { ...checked.value, id, createdBy, createdAt, updatedAt: new Date().toISOString() };
    await deps.store.putAlertRule(rule);
    return { data: { alert: { ...rule, state: stored.state } } };
  });

  app.delete<{ Params: { id: string } }>('/api/v1/alerts/:id', async (req, reply) => {
    if (!(await deps.store.deleteAlertRule(req.params.id))) return errors(reply, 404, [{ message: `no alert ${req.params.id}` }]);
    return { data: { status: 'SUCCESS' } };
  });

  app.get<{ Querystring: { limit?: string } }>('/api/v1/alerts/notifications', async (req) => {
    const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 100) || 100));
    const rules = new Map((await deps.store.listAlertRules()).map((r) => [r.rule.id, r.rule]));
    // A deleted alert's notifications: for those who read the whole workspace.
    const seen = (alertId: string) => {
      const rule = rules.get(alertId);
      return rule ? visible(req, rule) : readsWorkspace(req.principal);
    };
    const notifications: AlertNotification[] = (await deps.store.listAlertNotifications(limit)).filter((n) => seen(n.alertId)).map((n) => ({ ...n, at: new Date(n.at).toISOString() }));
    return { data: { notifications } };
  });
}
