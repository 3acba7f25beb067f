import type Database from 'better-sqlite3';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import type { RequestFn } from '../core/request.js';
import { checkAlerts, migrateAlerts, type Notifier } from '../observability/alerts.js';

/**
 * Checks the alert rules on a timer (in the HTTP thread: a few indexed sums a
 * minute) and sends notifications: Slack incoming webhooks through the request
 * client, email over SMTP (nodemailer).
 */
export function startAlertChecks(
  db: Database.Database,
  config: { smtpUrl?: string; from: string; intervalMs: number },
  request: RequestFn,
  logger: Logger,
  /** Checked before each run: only the holder of the `alerts` lease sends notifications. */
  shouldRun: () => boolean = () => true,
): { stop(): void } {
  migrateAlerts(db);
  const mail = config.smtpUrl ? nodemailer.createTransport(config.smtpUrl) : undefined;
  const notifier: Notifier = {
    async slack(webhookUrl, text) {
      const res = await request({ method: 'POST', url: webhookUrl, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
      if (res.status >= 300) throw new Error(`Slack answered HTTP ${res.status}: ${res.body.slice(0, 200)}`);
    },
    async email(to, subject, text) {
      if (!mail) throw new Error('no SMTP server is configured (SWITCHYARD_SMTP_URL)');
      await mail.sendMail({ from: config.from, to, subject, text });
    },
  };
  let running = false;
  const timer = setInterval(() => {
    if (running || !shouldRun()) return;
    running = true;
    checkAlerts(db, notifier, Date.now(), (err, rule) => logger.error({ err, alert: rule.id }, 'sending an alert notification failed'))
      .catch((err: unknown) => logger.error({ err }, 'checking alerts failed'))
      .finally(() => (running = false));
  }, config.intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      mail?.close();
    },
  };
}
