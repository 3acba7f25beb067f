import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSwitchyard, workspaceYaml } from './helpers/switchyard.js';
import { startSink } from './helpers/sink.js';

test('the catalog lists native and Actions destinations and describes one on demand', async () => {
  const sink = await startSink();
  const sy = await startSwitchyard({ workspace: workspaceYaml([sink.url]) });
  try {
    const list = (await (await fetch(`${sy.url}/api/v1/catalog/destinations`)).json()) as {
      data: { destinations: { type: string; name: string; kind: string; metadataId?: string }[]; pagination: { totalEntries: number } };
    };
    const types = new Map(list.data.destinations.map((d) => [d.type, d]));
    assert.ok(list.data.pagination.totalEntries > 200, `the whole Actions catalog (${list.data.pagination.totalEntries})`);
    assert.equal(types.get('webhook')?.kind, 'native');
    assert.equal(types.get('actions-amplitude')?.name, 'Actions Amplitude', 'names without loading the destinations');
    for (const t of ['actions-amplitude', 'actions-webhook', 'actions-slack', 'actions-mixpanel', 'actions-google-analytics-4', 'actions-braze-cloud']) {
      assert.equal(types.get(t)?.kind, 'actions', `${t} is listed`);
    }
    const amplitude = (await (await fetch(`${sy.url}/api/v1/catalog/destinations/actions-amplitude`)).json()) as {
      data: { destination: { name: string; authentication: { fields: Record<string, { secret: boolean; required: boolean }> }; actions: { key: string }[]; presets: unknown[] } };
    };
    const d = amplitude.data.destination;
    assert.equal(d.name, 'Actions Amplitude');
    assert.equal(d.authentication.fields.apiKey!.required, true);
    assert.equal(d.authentication.fields.secretKey!.secret, true);
    assert.ok(d.actions.some((a) => a.key === 'logEventV2'));
    assert.ok(d.presets.length > 0);
    const hook = (await (await fetch(`${sy.url}/api/v1/catalog/destinations/webhook`)).json()) as { data: { destination: { settings: { properties: Record<string, unknown> } } } };
    assert.ok('urls' in hook.data.destination.settings.properties);
    assert.equal((await fetch(`${sy.url}/api/v1/catalog/destinations/actions-nope`)).status, 404);
  } finally {
    await sy.stop();
    await sink.close();
  }
});
