import type Database from 'better-sqlite3';
import type { Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import type { RequestFn } from '../core/request.js';
import { evaluate, type AlertRule, type Notifier } from '../observability/alerts.js';
import type { ControlPlaneStore } from '../store/types.js';

/**
 * Checks the alert rules on a timer (in the HTTP thread: a few indexed sums a
 * minute) and sends notifications: Slack incoming webhooks through the request
 * client, email over SMTP (nodemailer).
 */
export function startAlertChecks(
  /** stats.db: the figures the rules are checked against. */
  db: Database.Database,
  /** Where the rules, their states and the notifications are. */
  store: ControlPlaneStore,
  config: { smtpUrl?: string; from: string; intervalMs: number },
  request: RequestFn,
  logger: Logger,
  /** Checked before each run: only the holder of the `alerts` lease sends notifications. */
  shouldRun: () => boolean = () => true,
): { stop(): void } {
  // nodemailer is loaded with the first email (~13 MB of RSS a server without SMTP never needs).
  let mail: Promise<Transporter> | undefined;
  const transport = (url: string) => (mail ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport(url)));
  const notifier: Notifier = {
    async slack(webhookUrl, text) {
      const res = await request({ method: 'POST', url: webhookUrl, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
      if (res.status >= 300) throw new Error(`Slack answered HTTP ${res.status}: ${res.body.slice(0, 200)}`);
    },
    async email(to, subject, text) {
      if (!config.smtpUrl) throw new Error('no SMTP server is configured (SWITCHYARD_SMTP_URL)');
      await (await transport(config.smtpUrl)).sendMail({ from: config.from, to, subject, text });
    },
  };
  let running = false;
  const timer = setInterval(() => {
    if (running || !shouldRun()) return;
    running = true;
    checkAlerts(db, store, notifier, Date.now(), (err, rule) => logger.error({ err, alert: rule.id }, 'sending an alert notification failed'))
      .catch((err: unknown) => logger.error({ err }, 'checking alerts failed'))
      .finally(() => (running = false));
  }, config.intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      void mail?.then((m) => m.close(), () => {});
    },
  };
}

/**
 * Checks every enabled rule; on a change of state records an in-app notification
 * and sends it to the rule's other channels. A channel that fails is logged and
 * does not stop the others. Rules, states and notifications are in the
 * control-plane store (every process sees them); the figures come from `db` (stats.db).
 */
export async function checkAlerts(
  db: Database.Database,
  store: Pick<ControlPlaneStore, 'listAlertRules' | 'setAlertRuleState' | 'addAlertNotification'>,
  notifier: Notifier,
  now: number,
  onError: (err: unknown, rule: AlertRule) => void,
): Promise<void> {
  for (const stored of await store.listAlertRules()) {
    const rule = stored.rule as AlertRule;
    if (!rule.enabled) continue;
    const { firing, message } = evaluate(db, rule, now);
    const state = firing ? 'firing' : 'ok';
    if (state === stored.state) continue;
    await store.setAlertRuleState(rule.id, state);
    const status = firing ? 'firing' : 'resolved';
    const text = `[Switchyard] ${rule.kind === 'source_volume' ? 'Source volume' : 'Successful delivery rate'} alert ${status}: ${message}`;
    await store.addAlertNotification({ alertId: rule.id, at: now, status, message: text });
    for (const c of rule.channels) {
      try {
        if (c.type === 'slack') await notifier.slack(c.webhookUrl, text);
        else if (c.type === 'email') await notifier.email(c.to, text.slice(0, 120), text);
      } catch (err) {
        onError(err, rule);
      }
    }
  }
}
