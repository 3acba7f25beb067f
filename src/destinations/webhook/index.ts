import { createHmac } from 'node:crypto';
import { outcomeFromCalls, type CallResult } from '../../core/outcome.js';
import { capturing, RedactSet } from '../../core/request.js';
import { EVENT_TYPES } from '../../protocol/types.js';
import type { DestinationDefinition } from '../types.js';
import { webhookSettings, type WebhookSettings } from './settings.js';

/**
 * Segment's classic "Webhooks" destination: the event JSON is POSTed to each URL,
 * signed with `X-Signature` = hex HMAC-SHA1 of the body when a shared secret is set.
 * With several URLs the event counts as delivered when every URL accepted it; a
 * retry sends to all URLs again (receivers dedupe by messageId), which keeps one
 * retry schedule per event.
 */
export const webhook: DestinationDefinition<WebhookSettings> = {
  type: 'webhook',
  name: 'Webhooks',
  settingsSchema: webhookSettings,
  supportedTypes: EVENT_TYPES,
  secretSettings: ['sharedSecret'],
  async deliver({ settings, payload, request: base }) {
    const headers: Record<string, string> = { ...settings.headers, 'content-type': 'application/json' };
    if (settings.sharedSecret) headers['x-signature'] = createHmac('sha1', settings.sharedSecret).update(payload).digest('hex');
    const { request, exchanges } = capturing(base, redactions(settings));
    const send = (url: string) =>
      request({ method: 'POST', url, headers, body: payload }).then(
        (response): CallResult => ({ ok: true, response }),
        (error: unknown): CallResult => ({ ok: false, error }),
      );
    const calls = settings.urls.length === 1 ? [await send(settings.urls[0]!)] : await Promise.all(settings.urls.map(send));
    return outcomeFromCalls(calls, exchanges, Date.now());
  },
};

/** The headers a webhook's captured exchanges redact, per settings object (made once, not per event). */
const redactSets = new WeakMap<WebhookSettings, RedactSet>();
function redactions(settings: WebhookSettings): RedactSet {
  let set = redactSets.get(settings);
  if (!set) redactSets.set(settings, (set = new RedactSet([...Object.keys(settings.headers), 'x-signature'])));
  return set;
}
