import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileFilters,
  previewFilter,
  validateFilters,
  type DestinationFilter,
  type FilterAction,
  type FilterResult,
} from '../src/core/filters.js';
import type { SegmentMessage } from '../src/protocol/types.js';

function message(overrides: Partial<SegmentMessage> = {}): SegmentMessage {
  return {
    type: 'track',
    messageId: 'm-1',
    userId: 'u-1',
    event: 'Order Completed',
    properties: {
      email: 'jane@example.com',
      total: 42,
      products: [
        { sku: 'a', price: 10, name: 'A' },
        { sku: 'b', price: 20, name: 'B' },
      ],
      address: { city: 'Paris', street: '1 rue' },
    },
    context: { ip: '1.2.3.4', library: { name: 'analytics-node', version: '3.1.0' } },
    traits: { plan: 'pro', email: 'jane@example.com' },
    ...overrides,
  };
}

let counter = 0;
function filter(condition: string, actions: FilterAction[], extra: Partial<DestinationFilter> = {}): DestinationFilter {
  counter += 1;
  return {
    id: `f${counter}`,
    sourceId: 'src',
    destinationId: 'dest',
    if: condition,
    actions,
    title: `filter ${counter}`,
    enabled: true,
    ...extra,
  };
}

function kept(result: FilterResult): SegmentMessage {
  if (result.kind !== 'keep') assert.fail(`expected keep, got drop by ${result.filterId}: ${result.reason} ${result.detail ?? ''}`);
  return result.message;
}

test('DROP drops matching events and keeps the others untouched', () => {
  const run = compileFilters([filter('event = "Order Completed"', [{ type: 'DROP' }])]);
  const dropped = run(message());
  assert.deepEqual(dropped, { kind: 'drop', filterId: `f${counter}`, reason: 'filter_drop' });
  const other = message({ event: 'Viewed' });
  assert.equal(kept(run(other)), other, 'an unmatched event passes as the same object');
});

test('"Only send" is a DROP with a negated condition; not is real negation', () => {
  const run = compileFilters([filter('not event in ["Signed Up", "Demo Requested"]', [{ type: 'DROP' }])]);
  assert.equal(run(message({ event: 'Signed Up' })).kind, 'keep');
  assert.equal(run(message({ event: 'Order Completed' })).kind, 'drop');
});

test('if: "all" applies to every event', () => {
  const run = compileFilters([filter('all', [{ type: 'DROP' }])]);
  assert.equal(run(message({ type: 'identify' })).kind, 'drop');
});

test('DROP_PROPERTIES removes paths, in every element of a list, and top-level fields', () => {
  const input = message();
  const run = compileFilters([
    filter('all', [
      { type: 'DROP_PROPERTIES', fields: { properties: ['email', 'products.price', 'missing.path'], context: ['ip'], '': ['userId'] } },
    ]),
  ]);
  const out = kept(run(input));
  assert.deepEqual(out.properties, {
    total: 42,
    products: [
      { sku: 'a', name: 'A' },
      { sku: 'b', name: 'B' },
    ],
    address: { city: 'Paris', street: '1 rue' },
  });
  assert.deepEqual(out.context, { library: { name: 'analytics-node', version: '3.1.0' } });
  assert.equal('userId' in out, false);
  assert.equal(out.traits, input.traits, 'objects nobody touched are shared, not copied');
  assert.equal(out.properties?.address, input.properties?.address);
});

test('DROP_PROPERTIES can remove a whole list', () => {
  const run = compileFilters([filter('all', [{ type: 'DROP_PROPERTIES', fields: { properties: ['products'] } }])]);
  assert.equal('products' in (kept(run(message())).properties ?? {}), false);
});

test('ALLOW_PROPERTIES keeps only the listed paths inside each listed object', () => {
  const input = message();
  const run = compileFilters([
    filter('all', [{ type: 'ALLOW_PROPERTIES', fields: { properties: ['total', 'products.sku', 'address'], 'context.library': ['name'] } }]),
  ]);
  const out = kept(run(input));
  assert.deepEqual(out.properties, {
    total: 42,
    products: [{ sku: 'a' }, { sku: 'b' }],
    address: { city: 'Paris', street: '1 rue' },
  });
  assert.deepEqual(out.context, { ip: '1.2.3.4', library: { name: 'analytics-node' } });
  assert.equal(out.traits, input.traits, 'objects not listed are left alone');
  assert.equal(out.userId, 'u-1');
});

test('filters apply in order; the first dropping filter is the one named', () => {
  const first = filter('all', [{ type: 'DROP_PROPERTIES', fields: { properties: ['email'] } }]);
  const second = filter('properties.total > 10', [{ type: 'DROP' }]);
  const third = filter('all', [{ type: 'DROP' }]);
  const result = compileFilters([first, second, third])(message());
  assert.equal(result.kind === 'drop' && result.filterId, second.id);
  const reversed = compileFilters([third, second, first])(message());
  assert.equal(reversed.kind === 'drop' && reversed.filterId, third.id);
});

test('conditions see the event as received, so removing a field never hides it from a later drop', () => {
  const strip = filter('all', [{ type: 'DROP_PROPERTIES', fields: { properties: ['email'] } }]);
  const internal = filter('match(properties.email, "*@example.com")', [{ type: 'DROP' }]);
  assert.equal(compileFilters([strip, internal])(message()).kind, 'drop');
  const allow = filter('all', [{ type: 'ALLOW_PROPERTIES', fields: { properties: ['total'] } }]);
  const dropTotal = filter('all', [{ type: 'DROP_PROPERTIES', fields: { properties: ['total'] } }]);
  // Property edits commute: both orders send the same payload.
  assert.deepEqual(kept(compileFilters([allow, dropTotal])(message())).properties, {});
  assert.deepEqual(kept(compileFilters([dropTotal, allow])(message())).properties, {});
});

test('disabled filters do nothing', () => {
  const run = compileFilters([filter('all', [{ type: 'DROP' }], { enabled: false })]);
  assert.equal(run(message()).kind, 'keep');
});

test('SAMPLE by userId: a user is always in or always out', () => {
  const sample = filter('all', [{ type: 'SAMPLE', percent: 0.5, path: 'userId' }]);
  const run = compileFilters([sample]);
  for (let u = 0; u < 50; u++) {
    const decisions = new Set<string>();
    for (let m = 0; m < 20; m++) decisions.add(run(message({ userId: `user-${u}`, messageId: `msg-${u}-${m}` })).kind);
    assert.equal(decisions.size, 1, `user-${u} got both decisions`);
  }
});

test('SAMPLE keeps about percent of 10k users, and the drop names the reason', () => {
  for (const percent of [0.1, 0.5, 0.9]) {
    const run = compileFilters([filter('all', [{ type: 'SAMPLE', percent, path: 'userId' }])]);
    let keptCount = 0;
    for (let u = 0; u < 10000; u++) {
      const result = run(message({ userId: `user-${u}`, messageId: `m-${u}` }));
      if (result.kind === 'keep') keptCount++;
      else assert.equal(result.reason, 'filter_sample');
    }
    assert.ok(Math.abs(keptCount / 10000 - percent) < 0.02, `percent ${percent}: kept ${keptCount}`);
  }
});

test('SAMPLE edges: 0 drops all, 1 keeps all, missing path falls back to messageId', () => {
  const none = compileFilters([filter('all', [{ type: 'SAMPLE', percent: 0 }])]);
  const all = compileFilters([filter('all', [{ type: 'SAMPLE', percent: 1 }])]);
  const byUser = compileFilters([filter('all', [{ type: 'SAMPLE', percent: 0.5, path: 'userId' }])]);
  let keptAnonymous = 0;
  for (let i = 0; i < 2000; i++) {
    const m = message({ messageId: `m-${i}`, userId: null });
    assert.equal(none(m).kind, 'drop');
    assert.equal(all(m).kind, 'keep');
    if (byUser(m).kind === 'keep') keptAnonymous++;
    assert.equal(byUser(m).kind, byUser({ ...m }).kind, 'the same event is decided the same way twice');
  }
  // Not all-or-nothing: events without a userId are sampled one by one.
  assert.ok(keptAnonymous > 800 && keptAnonymous < 1200, `kept ${keptAnonymous}`);
});

test('a filter that cannot be evaluated drops the event with filter_error', () => {
  const broken = filter('properties.email and true', [{ type: 'DROP_PROPERTIES', fields: { properties: ['email'] } }]);
  const result = compileFilters([broken])(message());
  assert.equal(result.kind, 'drop');
  if (result.kind === 'drop') {
    assert.equal(result.reason, 'filter_error');
    assert.equal(result.filterId, broken.id);
    assert.match(result.detail ?? '', /expected true, false or null/);
  }
  // A stored filter whose FQL no longer parses fails closed as well.
  const unparsable = compileFilters([filter('event = ', [{ type: 'DROP_PROPERTIES', fields: { properties: ['email'] } }])]);
  assert.equal(unparsable(message()).kind === 'drop' && 'filter_error', 'filter_error');
});

test('the input message is never mutated', () => {
  const input = message();
  const snapshot = structuredClone(input);
  const run = compileFilters([
    filter('all', [{ type: 'DROP_PROPERTIES', fields: { properties: ['products.price', 'email'], '': ['userId'] } }]),
    filter('all', [{ type: 'ALLOW_PROPERTIES', fields: { properties: ['products', 'total'], traits: ['plan'] } }]),
  ]);
  const out = kept(run(input));
  assert.deepEqual(input, snapshot);
  assert.notEqual(out, input);
  assert.deepEqual(out.properties, { total: 42, products: [{ sku: 'a', name: 'A' }, { sku: 'b', name: 'B' }] });
  assert.deepEqual(out.traits, { plan: 'pro' });
});

test('validateFilters accepts the Public API shape, including explicit nulls', () => {
  const result = validateFilters([
    { id: 'a', sourceId: 's', destinationId: 'd', if: 'type = "track"', title: 'T', enabled: true, description: null,
      actions: [{ type: 'DROP', fields: null, path: null, percent: null }] },
    { id: 'b', sourceId: 's', destinationId: 'd', if: 'all', title: 'S', enabled: false,
      actions: [{ type: 'SAMPLE', percent: 0.05, path: 'userId' }] },
  ]);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.error));
  assert.deepEqual(result.value[0].actions, [{ type: 'DROP' }]);
  assert.equal(result.value[0].description, undefined);
});

test('validateFilters: at most 10 filters per destination instance', () => {
  const make = (i: number, destinationId: string) => ({
    id: `${destinationId}-${i}`, sourceId: 's', destinationId, if: 'all', title: 't', enabled: true, actions: [{ type: 'DROP' }],
  });
  const ten = Array.from({ length: 10 }, (_, i) => make(i, 'd1'));
  assert.ok(validateFilters([...ten, ...Array.from({ length: 10 }, (_, i) => make(i, 'd2'))]).ok);
  const eleven = validateFilters([...ten, make(10, 'd1')]);
  assert.equal(eleven.ok, false);
  if (!eleven.ok) {
    assert.equal(eleven.error[0].field, 'filters[10]');
    assert.equal(eleven.error[0].limit, '10 filters per destination');
  }
});

test('validateFilters names the filter, the field and the FQL position', () => {
  const result = validateFilters([
    { id: 'ok', sourceId: 's', destinationId: 'd', if: 'all', title: 't', enabled: true, actions: [{ type: 'DROP' }] },
    { id: 'bad', sourceId: 's', destinationId: 'd', if: 'type = "track" AND x', title: 't', enabled: true,
      actions: [
        { type: 'SAMPLE', percent: 10 },
        { type: 'DROP_PROPERTIES', fields: { payload: ['x'], properties: ['my key'] } },
        { type: 'ALLOW_PROPERTIES', fields: { '': ['userId'] } },
        { type: 'DROP_PROPERTIES', fields: { '': ['messageId'] } },
        { type: 'DROP', percent: 0.5 },
        { type: 'EXPLODE' },
      ] },
  ]);
  assert.equal(result.ok, false);
  if (result.ok) return;
  const byField = new Map(result.error.map((e) => [e.field, e.message]));
  assert.match(byField.get('filters[1].if') ?? '', /position 15/);
  assert.match(byField.get('filters[1].actions[0].percent') ?? '', /between 0 and 1/);
  assert.match(byField.get('filters[1].actions[1].fields["payload"]') ?? '', /inside properties, traits, context/);
  assert.match(byField.get('filters[1].actions[1].fields["properties"][0]') ?? '', /position 2/);
  assert.ok(byField.has('filters[1].actions[2].fields[""]'));
  assert.match(byField.get('filters[1].actions[3].fields[""][0]') ?? '', /messageId cannot be removed/);
  assert.ok(byField.has('filters[1].actions[4].percent'));
  assert.ok(byField.has('filters[1].actions[5].type'));
  assert.equal(validateFilters('nope').ok, false);
  const duplicate = validateFilters([
    { id: 'x', sourceId: 's', destinationId: 'd', if: 'all', title: 't', enabled: true, actions: [{ type: 'DROP' }] },
    { id: 'x', sourceId: 's', destinationId: 'd', if: 'all', title: 't', enabled: true, actions: [{ type: 'DROP' }] },
  ]);
  assert.equal(!duplicate.ok && duplicate.error[0].field, 'filters[1].id');
});

test('previewFilter shows whether the filter matched and what would be sent, even when disabled', () => {
  const f = filter('contains(properties.email, "@example.com")', [{ type: 'DROP_PROPERTIES', fields: { properties: ['email'] } }], {
    enabled: false,
  });
  const preview = previewFilter(f, message());
  assert.equal(preview.matched, true);
  assert.equal('email' in (kept(preview.result).properties ?? {}), false);
  const miss = previewFilter(f, message({ properties: { email: 'jane@corp.test' } }));
  assert.equal(miss.matched, false);
  assert.deepEqual(kept(miss.result).properties, { email: 'jane@corp.test' });
  const broken = previewFilter(filter('properties.email or true', [{ type: 'DROP' }]), message());
  assert.equal(broken.matched, false);
  assert.equal(broken.result.kind === 'drop' && broken.result.reason, 'filter_error');
});
