/**
 * Request bodies for the Tracking API with a unique messageId per event. Bodies are
 * built from a pre-split template (string concatenation only), so the load
 * generator spends as little CPU as possible on them, and the same bodies go to
 * the bare baseline server and to Switchyard.
 */
import { randomBytes } from 'node:crypto';

const MARK = '@@MESSAGE_ID@@';
export const WRITE_KEY = 'wk_web_prod';
export const AUTH_HEADER = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
/** The size the issue names for one event on the wire. */
export const TARGET_EVENT_BYTES = 460;

function trackEvent(i: number, withType: boolean, pad: string): Record<string, unknown> {
  return {
    ...(withType ? { type: 'track' } : {}),
    event: 'Order Completed',
    userId: `user-${String(100000 + (i % 900000))}`,
    properties: {
      orderId: `ord-${(i * 7919) % 1_000_000}`,
      total: 129.95,
      revenue: 119.95,
      currency: 'USD',
      coupon: 'SPRING24',
      products: [{ productId: 'p-1', sku: 'SKU-0001', name: 'Hiking Boots', price: 59.95, quantity: 2 }],
      note: pad,
    },
    context: { library: { name: '@segment/analytics-node', version: '3.1.0' }, locale: 'en-US', timezone: 'Europe/Paris' },
    timestamp: '2025-06-01T12:00:00.000Z',
    messageId: MARK,
  };
}

/**
 * An event JSON with the messageId marker, padded to about TARGET_EVENT_BYTES once
 * an id of `idBytes` (`${tag}-${n}` or `${tag}-${n}-${i}`) replaces the marker.
 */
function eventTemplate(i: number, withType: boolean, idBytes: number): string {
  let pad = '';
  let json = JSON.stringify(trackEvent(i, withType, pad));
  const size = () => Buffer.byteLength(json) - MARK.length + idBytes;
  if (size() < TARGET_EVENT_BYTES) {
    pad = 'x'.repeat(TARGET_EVENT_BYTES - size());
    json = JSON.stringify(trackEvent(i, withType, pad));
  }
  return json;
}

export interface BodyFactory {
  /** A fresh body (unique messageIds) on every call. */
  next(): string;
  /** Events per body. */
  readonly events: number;
  /** Byte size of a typical body. */
  readonly bytes: number;
  readonly path: string;
}

/** `tag` keeps ids unique across runs that share one data dir. */
export function runTag(): string {
  return randomBytes(4).toString('hex');
}

/** One `POST /v1/track` body. */
export function singleTrackBodies(tag = runTag()): BodyFactory {
  const [a, b] = eventTemplate(0, false, 13).split(MARK) as [string, string];
  let n = 0;
  const next = () => a + tag + '-' + n++ + b;
  return { next, events: 1, bytes: Buffer.byteLength(next()), path: '/v1/track' };
}

/** One `POST /v1/batch` body of `size` track events. */
export function batchBodies(size = 100, tag = runTag()): BodyFactory {
  const parts: string[] = [];
  let head = '{"batch":[';
  for (let i = 0; i < size; i++) {
    const [a, b] = eventTemplate(i, true, 15).split(MARK) as [string, string];
    parts.push(head + a);
    head = b + (i < size - 1 ? ',' : '');
  }
  const tail = head + `],"sentAt":"2025-06-01T12:00:00.100Z","context":{"library":{"name":"@segment/analytics-node","version":"3.1.0"}}}`;
  let n = 0;
  const next = () => {
    const prefix = tag + '-' + n++ + '-';
    let s = '';
    for (let i = 0; i < size; i++) s += parts[i] + prefix + i;
    return s + tail;
  };
  return { next, events: size, bytes: Buffer.byteLength(next()), path: '/v1/batch' };
}
