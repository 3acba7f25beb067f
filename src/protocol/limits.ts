/**
 * Segment's Tracking API limits. Segment limits batches by size only, not by
 * event count, so there is deliberately no MAX_BATCH_EVENTS here: adding one
 * would reject batches that Segment itself accepts.
 */

/** One event (one call, or one item of a batch), serialized. */
export const MAX_EVENT_BYTES = 32 * 1024;

/** One request body, e.g. a whole /v1/batch payload. */
export const MAX_REQUEST_BYTES = 500 * 1024;

/** Top-level keys kept in `properties` and in `traits`; the rest are dropped and counted. */
export const MAX_PROPERTIES = 10_000;
