/**
 * How the Unify consumer settles a batch (src/unify/settle.ts): one event the graph
 * cannot apply no longer stalls the space's lane (it is failed on the lane, the others
 * go on), while a storage error (a full disk) sets nothing aside and retries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settleBatch, type SettleLane } from '../src/unify/settle.js';

interface M { id: string }
function recorder() {
  const calls: string[] = [];
  const lane: SettleLane<M> = {
    ack: (m) => void calls.push(`ack ${m.id}`),
    retry: (m, notBefore, attemptedAt) => void calls.push(`retry ${m.id} +${notBefore - attemptedAt}`),
    fail: (m, reason) => void calls.push(`fail ${m.id}: ${reason}`),
  };
  return { calls, lane };
}
const batch: M[] = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
const storageError = () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });

test('a batch that applies is acknowledged whole', () => {
  const { calls, lane } = recorder();
  const applied: string[][] = [];
  const r = settleBatch(batch, (ms) => void applied.push(ms.map((m) => m.id)), lane, 1000, 5000);
  assert.deepEqual(applied, [['a', 'b', 'c']], 'one transaction');
  assert.deepEqual(calls, ['ack a', 'ack b', 'ack c']);
  assert.deepEqual(r, { applied: 3, retried: 0, failed: [] });
});

test('one event the graph refuses is set aside; the others are applied and acknowledged', () => {
  const { calls, lane } = recorder();
  const applied: string[][] = [];
  const r = settleBatch(batch, (ms) => {
    if (ms.some((m) => m.id === 'b')) throw new TypeError('cannot read properties of undefined');
    applied.push(ms.map((m) => m.id));
  }, lane, 1000, 5000);
  assert.deepEqual(applied, [['a'], ['c']], 'each alone once the batch failed');
  assert.deepEqual(calls, ['ack a', 'fail b: the identity graph cannot apply this event: cannot read properties of undefined', 'ack c']);
  assert.equal(r.applied, 2);
  assert.equal(r.failed.length, 1);
});

test('a storage error sets nothing aside: the batch, or the event that met it, is retried later', () => {
  const whole = recorder();
  const r = settleBatch(batch, () => { throw storageError(); }, whole.lane, 1000, 5000);
  assert.deepEqual(whole.calls, ['retry a +5000', 'retry b +5000', 'retry c +5000']);
  assert.deepEqual(r, { applied: 0, retried: 3, failed: [] });

  // A bad event found the disk full when applied alone: retried, not failed.
  const split = recorder();
  let first = true;
  settleBatch(batch, (ms) => {
    if (first) { first = false; throw new Error('bad event somewhere'); }
    if (ms[0]!.id === 'b') throw storageError();
  }, split.lane, 1000, 5000);
  assert.deepEqual(split.calls, ['ack a', 'retry b +5000', 'ack c']);
});

test('a batch of one that the graph refuses is failed at once', () => {
  const { calls, lane } = recorder();
  let tries = 0;
  settleBatch([{ id: 'z' }], () => { tries++; throw new Error('boom'); }, lane, 0, 5000);
  assert.equal(tries, 1);
  assert.deepEqual(calls, ['fail z: the identity graph cannot apply this event: boom']);
});
