/**
 * Names on the NATS side. Stream, consumer and subject tokens may not contain
 * `.`, `*`, `>`, whitespace or path separators, so ids are encoded injectively:
 * ASCII letters, digits and `-` pass through, every other byte becomes `_XX`
 * (uppercase hex of its UTF-8 bytes; `_` itself becomes `_5F`).
 */
const SAFE = /^[A-Za-z0-9-]$/;

export function token(id: string): string {
  if (/^[A-Za-z0-9-]+$/.test(id)) return id;
  let out = '';
  for (const ch of id) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const b of Buffer.from(ch, 'utf8')) out += `_${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out || '_';
}

/** The inverse of token(). */
export function untoken(t: string): string {
  return t.replace(/(?:_[0-9A-F]{2})+/g, (run) => Buffer.from(run.split('_').slice(1).map((h) => parseInt(h, 16))).toString('utf8'));
}

export interface Naming {
  /** Prefix of stream names; the workspace token follows. Default `SWITCHYARD_`. */
  streamPrefix: string;
  /** First subject token; subjects are `<subjectRoot>.<workspace>.<source>`. Default `sy`. */
  subjectRoot: string;
}

export function streamName(n: Naming, workspaceId: string): string {
  return `${n.streamPrefix}${token(workspaceId)}`;
}

export function subjectFor(n: Naming, workspaceId: string, sourceId: string): string {
  return `${n.subjectRoot}.${token(workspaceId)}.${token(sourceId)}`;
}

export function streamSubjects(n: Naming, workspaceId: string): string {
  return `${n.subjectRoot}.${token(workspaceId)}.*`;
}

/**
 * One durable pull consumer per (lane, source): `lane_<lane>__<source>`. The pair is
 * also kept in the consumer's description (see `laneDescription`), which is what
 * `laneIds()` and `deleteLane()` read back: names are for humans and uniqueness.
 */
export function consumerName(laneId: string, sourceId: string): string {
  return `lane_${token(laneId)}__${token(sourceId)}`;
}

const DESCRIPTION_PREFIX = 'switchyard lane ';

export function laneDescription(laneId: string, sourceId: string): string {
  return DESCRIPTION_PREFIX + JSON.stringify({ laneId, sourceId });
}

export function parseLaneDescription(description: string | undefined): { laneId: string; sourceId: string } | null {
  if (!description?.startsWith(DESCRIPTION_PREFIX)) return null;
  try {
    const v = JSON.parse(description.slice(DESCRIPTION_PREFIX.length)) as { laneId?: unknown; sourceId?: unknown };
    return typeof v.laneId === 'string' && typeof v.sourceId === 'string' ? { laneId: v.laneId, sourceId: v.sourceId } : null;
  } catch {
    return null;
  }
}
