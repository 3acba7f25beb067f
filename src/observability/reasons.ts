/**
 * Words for the reasons events stop, shown beside them (Delivery Overview's discard
 * table, Event Delivery's errors table).
 */

/** What a user can do about each discard reason (Segment's "how to fix it" column). */
export function howToFix(reason: string): string {
  if (reason === 'malformed_json') return 'The client sent a body that is not JSON: check how the request is built.';
  if (reason === 'invalid_write_key' || reason === 'missing_write_key') return 'Send the source\'s write key as the Basic auth username or as "writeKey" in the body.';
  if (reason === 'source_disabled') return 'Enable the source, or stop sending to it.';
  if (reason === 'invalid_event' || reason === 'invalid_batch') return 'Fix the field named in the 400 response (Segment spec: userId or anonymousId, event for track, ...).';
  if (reason === 'event_too_large' || reason === 'request_too_large') return 'Send smaller events (32 KB) or smaller batches (500 KB).';
  if (reason === 'storage_unavailable') return 'Free disk space on the Switchyard host; clients retry 503s.';
  if (reason.startsWith('integrations_')) return 'The event\'s integrations object turned this destination off.';
  if (reason === 'unsupported_event_type') return 'This destination does not accept this event type.';
  if (reason.startsWith('destination_filter:')) return 'A destination filter dropped it: review the filter named in the reason.';
  if (reason === 'no_matching_subscription') return 'No subscription of this Actions destination matches the event: add or edit a subscription.';
  if (/^HTTP 40[13]$/.test(reason) || reason.startsWith('invalid authentication')) return 'The destination refused the credentials: update the API key or token in its settings.';
  if (/^HTTP 4\d\d$/.test(reason) || reason.startsWith('payload validation')) return 'The destination rejected the payload: open a sample in Event Delivery and fix the mapping or the event.';
  if (reason.startsWith('retries_exhausted') || reason.startsWith('retry_window_exceeded')) return 'The destination kept failing: check its status and the latest error; events will flow once it recovers.';
  return 'Open a failure sample in Event Delivery for the request and the response.';
}

/** A one-line description of a failure reason for people. */
export function summarize(reason: string): string {
  const http = /^HTTP (\d{3})$/.exec(reason);
  if (http) {
    const status = Number(http[1]);
    if (status === 429) return 'The destination rate-limited Switchyard (429)';
    if (status >= 500) return `The destination had a server error (${status})`;
    if (status === 401 || status === 403) return `The destination refused the credentials (${status})`;
    return `The destination rejected the request (${status})`;
  }
  if (reason.startsWith('retries_exhausted')) return 'Delivery kept failing until the retries ran out';
  if (reason.startsWith('retry_window_exceeded')) return 'Delivery kept failing past the retry window';
  if (reason.startsWith('timed out')) return 'The destination did not answer in time';
  if (/^E[A-Z]+:/.test(reason)) return `Switchyard could not reach the destination (${reason.split(':')[0]})`;
  return reason;
}
