import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { startSink } from './helpers/sink.js';
import { waitUntil } from './helpers/e2e.js';

const AUTH = { authorization: `Basic ${Buffer.from('wk_web_prod:').toString('base64')}`, 'content-type': 'application/json' };

/** A local SMTP server that keeps what it receives. */
async function smtpSink(): Promise<{ url: string; mails: { to: string[]; data: string }[]; close(): Promise<void> }> {
  const mails: { to: string[]; data: string }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, done) {
      let data = '';
      stream.on('data', (c: Buffer) => (data += c.toString()));
      stream.on('end', () => {
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), data });
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { url: `smtp://127.0.0.1:${port}`, mails, close: () => new Promise((r) => server.close(() => r())) };
}


test('alerts fire to in-app, Slack and email when their condition holds, and not otherwise', async () => {
  const failing = await startSink();
  failing.respond(() => ({ status: 400 }));
  const healthy = await startSink();
  const slack = await startSink('/services/T000/B000/XXXX');
  const smtp = await smtpSink();
  const extra = `  - name: Healthy hook
    type: webhook
    sources: [web-prod]
    settings: { urls: [${healthy.url}] }
`;
  const sy = await startSwitchyard({
    workspace: workspaceYaml([failing.url], extra),
    env: { SWITCHYARD_SMTP_URL: smtp.url, SWITCHYARD_ALERT_INTERVAL_MS: '300', SWITCHYARD_ADMIN_TOKEN: 'tok' },
  });
  const api = (path: string, method = 'GET', body?: object) =>
    fetch(`${sy.url}/api/v1/alerts${path}`, { method, headers: { authorization: 'Bearer tok' }, body: body ? JSON.stringify(body) : undefined });
  try {
    const bad = await api('', 'POST', { kind: 'delivery_rate', destinationId: 'nope', belowPercent: 90, channels: [{ type: 'in_app' }] });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { errors: { field: string }[] }).errors[0]!.field, 'destinationId');
    const badUrl = await api('', 'POST', { kind: 'delivery_rate', destinationId: 'orders-webhook', belowPercent: 90, channels: [{ type: 'slack', webhookUrl: 'not a url' }] });
    assert.equal(badUrl.status, 400);

    const created = await api('', 'POST', {
      kind: 'delivery_rate',
      destinationId: 'orders-webhook',
      belowPercent: 90,
      channels: [{ type: 'in_app' }, { type: 'slack', webhookUrl: slack.url }, { type: 'email', to: ['ops@example.com'] }],
    });
    assert.equal(created.status, 201);
    const rate = ((await created.json()) as { data: { alert: { id: string; createdBy: string; state: string } } }).data.alert;
    assert.equal(rate.createdBy, 'admin token');
    const quiet = ((await (await api('', 'POST', { kind: 'delivery_rate', destinationId: 'healthy-hook', belowPercent: 90, channels: [{ type: 'in_app' }] })).json()) as {
      data: { alert: { id: string } };
    }).data.alert;
    const volume = ((await (await api('', 'POST', { kind: 'source_volume', sourceId: 'web-prod', percentChange: 50, channels: [{ type: 'slack', webhookUrl: slack.url }] })).json()) as {
      data: { alert: { id: string } };
    }).data.alert;

    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${sy.url}/v1/track`, { method: 'POST', headers: AUTH, body: JSON.stringify({ userId: 'u', event: 'Alerting' }) });
      assert.equal(r.status, 200);
    }
    await healthy.waitFor(5);
    await failing.waitFor(5);

    const notes = await waitUntil('both alerts to fire', async () => {
      const n = ((await (await api('/notifications')).json()) as { data: { notifications: { alertId: string; status: string; message: string }[] } }).data.notifications;
      return n.length >= 2 ? n : undefined;
    });
    assert.deepEqual(notes.map((n) => n.alertId).sort(), [rate.id, volume.id].sort());
    assert.ok(notes.every((n) => n.status === 'firing'));
    assert.match(notes.find((n) => n.alertId === rate.id)!.message, /delivered 0 of 5 events .*0\.0%/);
    assert.ok(!notes.some((n) => n.alertId === quiet.id), 'the healthy destination does not alert');

    await waitUntil('Slack to get both', () => (slack.received.length >= 2 ? true : undefined));
    const texts = slack.received.map((r) => (JSON.parse(r.body) as { text: string }).text);
    assert.ok(texts.some((t) => /Successful delivery rate alert firing/.test(t)));
    assert.ok(texts.some((t) => /Source volume alert firing/.test(t)));
    const mail = await waitUntil('the email', () => smtp.mails[0]);
    assert.deepEqual(mail.to, ['ops@example.com']);
    assert.match(mail.data, /delivered 0 of 5 events/);

    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(slack.received.length, 2, 'a firing alert notifies once, not on every check');

    const listed = ((await (await api('')).json()) as { data: { alerts: { id: string; state: string }[] } }).data.alerts;
    assert.equal(listed.find((a) => a.id === rate.id)!.state, 'firing');
    assert.equal(listed.find((a) => a.id === quiet.id)!.state, 'ok');

    const edited = await api(`/${quiet.id}`, 'PATCH', { belowPercent: 50 });
    assert.equal(((await edited.json()) as { data: { alert: { belowPercent: number } } }).data.alert.belowPercent, 50);
    assert.equal((await api(`/${quiet.id}`, 'DELETE')).status, 200);
    assert.equal((await api(`/${quiet.id}`)).status, 404);
    assert.equal((await fetch(`${sy.url}/api/v1/alerts`)).status, 401, 'the API needs the token');
  } finally {
    await sy.stop();
    await Promise.all([failing.close(), healthy.close(), slack.close(), smtp.close()]);
  }
});
