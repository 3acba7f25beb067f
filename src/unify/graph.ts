/**
 * The identity graph: applies events to profiles as Segment's Identity Resolution
 * does ("Flat matching logic", segment-docs identity-resolution-onboarding):
 *
 * 1. No profile matches any identifier of the event: a new profile.
 * 2. One profile matches: the event's new identifiers, traits and the event join it.
 * 3. Several match: they merge into one (the oldest survives; the others keep their
 *    segment_id as an alias through `merged_into`).
 *
 * Merge protection (limits and priority): before 2 or 3 is committed, the resulting
 * profile's values per type are counted (for a rule with a frequency, only values seen
 * on an event received within its window). When a type would hold more values than its
 * rule's limit, the event's lowest-priority identifier type is demoted (no longer used
 * to match, not added) and the event is resolved again with what is left: the seed's
 * example, where a new user_id arrives with a known email and user_id's limit is 1,
 * demotes email and so makes a new profile for the new user_id. When one type is left
 * and still breaks its limit, only its first value is kept; if even that breaks it
 * (a profile already over a limit that was lowered later), the event joins the
 * matched profile without adding anything.
 *
 * `group_id` links a user to an account (the Profile API's `/links`); it never matches
 * users to one another: two colleagues in one account are not one person.
 *
 * Deterministic and idempotent: a (source, messageId) applied once is skipped when
 * delivered again (at-least-once lanes); a profile's id derives from the message that
 * made it, so the same log applied to an empty graph makes the same profiles.
 */
import { createHash } from 'node:crypto';
import type { UnifyDb } from './db.js';
import { graphSpace } from './db.js';
import { blockedMatcher, EVENTS_PER_PROFILE, WINDOW_MS, type IdentityRule, type UnifySpace } from './config.js';
import { eventTime, extractExternalIds, type ExternalId } from './extract.js';

export interface GraphMessage {
  sourceId: string;
  messageId: string;
  /** The enriched message as the log holds it (JSON text). */
  payload: string;
  /** Epoch ms the event was received (the log's). */
  receivedAt: number;
}

export interface ApplyCounts {
  applied: number;
  /** Already applied (re-delivered). */
  duplicates: number;
  /** No identifier the space resolves on (after blocked values): no profile to attach to. */
  unresolved: number;
  /** Not JSON, or not an object. */
  invalid: number;
  merges: number;
}

/** How long an applied message id is remembered: far past any re-delivery (a lane re-delivers only what it had not flushed). */
export const APPLIED_RETENTION_MS = 7 * 24 * 3_600_000;
/** Trim a profile's events once it holds this many more than EVENTS_PER_PROFILE (amortizes the delete). */
const TRIM_SLACK = 100;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface ProfileRow {
  id: string;
  created_at: number;
  event_count: number;
}

export class IdentityGraph {
  private rules: IdentityRule[] = [];
  private limits = new Map<string, { limit: number; windowMs: number }>();
  private priority = new Map<string, number>();
  private isBlocked: (v: string) => boolean = () => false;
  private readonly stmts;
  private readonly eventsPerProfile: number;

  constructor(private readonly db: UnifyDb, space: UnifySpace, opts: { eventsPerProfile?: number; onReset?: (previous: string) => void } = {}) {
    this.eventsPerProfile = opts.eventsPerProfile ?? EVENTS_PER_PROFILE;
    const s = (sql: string) => db.prepare(sql);
    this.stmts = {
      seen: s(`SELECT 1 FROM applied WHERE source_id = ? AND message_id = ?`),
      markSeen: s(`INSERT INTO applied (source_id, message_id, at) VALUES (?, ?, ?)`),
      owner: s(`SELECT profile_id FROM external_ids WHERE type = ? AND value = ?`),
      profile: s(`SELECT id, created_at, event_count FROM profiles WHERE id = ?`),
      countsOf: s(`SELECT type, last_seen FROM external_ids WHERE profile_id = ?`),
      insertProfile: s(`INSERT INTO profiles (id, created_at, updated_at, first_message_id, first_source_id, last_message_id, last_source_id)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      touchProfile: s(`UPDATE profiles SET updated_at = MAX(updated_at, ?), last_message_id = ?, last_source_id = ?, event_count = event_count + ? WHERE id = ?`),
      insertId: s(`INSERT OR IGNORE INTO external_ids (type, value, profile_id, source_id, first_message_id, created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      seenId: s(`UPDATE external_ids SET last_seen = MAX(last_seen, ?) WHERE type = ? AND value = ?`),
      upsertTrait: s(`INSERT INTO traits (profile_id, name, value, source_id, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (profile_id, name) DO UPDATE SET value = excluded.value, source_id = excluded.source_id, updated_at = excluded.updated_at
        WHERE excluded.updated_at >= traits.updated_at`),
      insertEvent: s(`INSERT INTO events (profile_id, source_id, message_id, type, event, ts, external_ids, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      trimEvents: s(`DELETE FROM events WHERE profile_id = ? AND id IN
        (SELECT id FROM events WHERE profile_id = ? ORDER BY ts DESC, id DESC LIMIT -1 OFFSET ?)`),
      setCount: s(`UPDATE profiles SET event_count = (SELECT COUNT(*) FROM events WHERE profile_id = ?) WHERE id = ?`),
      link: s(`INSERT OR IGNORE INTO links (profile_id, group_id, source_id, created_at) VALUES (?, ?, ?, ?)`),
      // Merging `from` into `into`.
      moveIds: s(`UPDATE external_ids SET profile_id = ? WHERE profile_id = ?`),
      moveEvents: s(`UPDATE events SET profile_id = ? WHERE profile_id = ?`),
      moveTraits: s(`INSERT INTO traits (profile_id, name, value, source_id, updated_at)
        SELECT ?, name, value, source_id, updated_at FROM traits WHERE profile_id = ? AND true
        ON CONFLICT (profile_id, name) DO UPDATE SET value = excluded.value, source_id = excluded.source_id, updated_at = excluded.updated_at
        WHERE excluded.updated_at > traits.updated_at`),
      dropTraits: s(`DELETE FROM traits WHERE profile_id = ?`),
      moveLinks: s(`INSERT OR IGNORE INTO links (profile_id, group_id, source_id, created_at) SELECT ?, group_id, source_id, created_at FROM links WHERE profile_id = ?`),
      dropLinks: s(`DELETE FROM links WHERE profile_id = ?`),
      foldProfile: s(`UPDATE profiles SET merged_into = ? WHERE id = ? OR merged_into = ?`),
      absorbMeta: s(`UPDATE profiles SET
          updated_at = MAX(updated_at, (SELECT updated_at FROM profiles WHERE id = @from)),
          last_message_id = CASE WHEN (SELECT updated_at FROM profiles WHERE id = @from) > updated_at THEN (SELECT last_message_id FROM profiles WHERE id = @from) ELSE last_message_id END,
          last_source_id = CASE WHEN (SELECT updated_at FROM profiles WHERE id = @from) > updated_at THEN (SELECT last_source_id FROM profiles WHERE id = @from) ELSE last_source_id END
        WHERE id = @into`),
      recordMerge: s(`INSERT INTO merges (from_profile, into_profile, source_id, message_id, at) VALUES (?, ?, ?, ?, ?)`),
      pruneApplied: s(`DELETE FROM applied WHERE at < ?`),
    };
    this.configure(space, opts.onReset);
  }

  /** Applies a space's rules (the file changed). A graph built for another space id starts empty. */
  configure(space: UnifySpace, onReset?: (previous: string) => void): void {
    const previous = graphSpace(this.db);
    if (previous !== space.id) {
      this.db.transaction(() => {
        if (previous !== undefined) {
          for (const t of ['profiles', 'external_ids', 'traits', 'events', 'links', 'merges', 'applied']) this.db.exec(`DELETE FROM ${t}`);
          onReset?.(previous);
        }
        this.db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('space', ?)`).run(space.id);
      })();
    }
    this.rules = [...space.rules].sort((a, b) => a.priority - b.priority);
    this.limits = new Map(this.rules.map((r) => [r.type, { limit: r.limit, windowMs: WINDOW_MS[r.frequency ?? 'ever'] }]));
    this.priority = new Map(this.rules.map((r) => [r.type, r.priority]));
    this.isBlocked = blockedMatcher(space.blockedValues);
  }

  /** Applies a batch in one transaction: all of it is in the graph, or none. */
  applyBatch(messages: readonly GraphMessage[]): ApplyCounts {
    const counts: ApplyCounts = { applied: 0, duplicates: 0, unresolved: 0, invalid: 0, merges: 0 };
    this.db.transaction(() => {
      for (const m of messages) this.applyOne(m, counts);
    })();
    return counts;
  }

  /** Forgets applied message ids older than the retention. */
  prune(now: number): void {
    this.stmts.pruneApplied.run(now - APPLIED_RETENTION_MS);
  }

  private applyOne(m: GraphMessage, counts: ApplyCounts): void {
    if (this.stmts.seen.get(m.sourceId, m.messageId)) {
      counts.duplicates++;
      return;
    }
    this.stmts.markSeen.run(m.sourceId, m.messageId, m.receivedAt);
    let msg: unknown;
    try {
      msg = JSON.parse(m.payload);
    } catch {
      msg = undefined;
    }
    if (!isObj(msg)) {
      counts.invalid++;
      return;
    }
    const all = extractExternalIds(msg, this.rules, this.isBlocked);
    const groupIds = all.filter((x) => x.type === 'group_id');
    const ids = all.filter((x) => x.type !== 'group_id');
    if (ids.length === 0) {
      counts.unresolved++;
      return;
    }
    const ts = eventTime(msg, m.receivedAt);
    const { profileId, promoted } = this.resolve(ids, m, counts);
    const type = typeof msg.type === 'string' ? msg.type : 'track';
    const context = isObj(msg.context) ? msg.context : undefined;

    // Traits: an identify's traits and any call's context.traits; latest timestamp wins per trait.
    for (const source of [type === 'identify' ? msg.traits : undefined, context?.traits]) {
      if (!isObj(source)) continue;
      for (const [name, value] of Object.entries(source)) {
        if (value === undefined) continue;
        this.stmts.upsertTrait.run(profileId, name, JSON.stringify(value), m.sourceId, ts);
      }
    }
    for (const g of groupIds) this.stmts.link.run(profileId, g.id, m.sourceId, m.receivedAt);

    const eventName = type === 'track' && typeof msg.event === 'string' ? msg.event
      : (type === 'page' || type === 'screen') && typeof msg.name === 'string' ? msg.name : null;
    this.stmts.insertEvent.run(profileId, m.sourceId, m.messageId, type, eventName, ts, JSON.stringify(promoted), m.payload);
    this.stmts.touchProfile.run(m.receivedAt, m.messageId, m.sourceId, 1, profileId);
    const p = this.stmts.profile.get(profileId) as ProfileRow;
    if (p.event_count > this.eventsPerProfile + TRIM_SLACK) this.trim(profileId);
    counts.applied++;
  }

  private trim(profileId: string): void {
    this.stmts.trimEvents.run(profileId, profileId, this.eventsPerProfile);
    this.stmts.setCount.run(profileId, profileId);
  }

  /** Finds or makes the profile, honouring limits and priorities; returns it and the identifiers promoted from this event. */
  private resolve(ids: ExternalId[], m: GraphMessage, counts: ApplyCounts): { profileId: string; promoted: ExternalId[] } {
    let candidates = ids;
    for (;;) {
      const owners = candidates.map((x) => (this.stmts.owner.get(x.type, x.id) as { profile_id: string } | undefined)?.profile_id);
      const matched = [...new Set(owners.filter((o): o is string => o !== undefined))]
        .map((id) => this.stmts.profile.get(id) as ProfileRow)
        .sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
      const fresh = candidates.filter((_x, i) => owners[i] === undefined);
      if (!this.breaksLimit(matched, fresh, m.receivedAt)) {
        const profileId = matched.length > 0 ? matched[0]!.id : this.create(m);
        for (const other of matched.slice(1)) {
          this.merge(other.id, profileId, m);
          counts.merges++;
        }
        for (const x of candidates) {
          if (fresh.includes(x)) this.stmts.insertId.run(x.type, x.id, profileId, m.sourceId, m.messageId, m.receivedAt, m.receivedAt);
          else this.stmts.seenId.run(m.receivedAt, x.type, x.id);
        }
        return { profileId, promoted: candidates };
      }
      const types = [...new Set(candidates.map((x) => x.type))].sort((a, b) => this.priority.get(a)! - this.priority.get(b)!);
      if (types.length > 1) {
        // Demote the event's lowest-priority identifier type and try again.
        const lowest = types[types.length - 1];
        candidates = candidates.filter((x) => x.type !== lowest);
      } else if (candidates.length > 1) {
        candidates = candidates.slice(0, 1);
      } else {
        // One identifier, already on a profile that is over a limit (lowered since): join it, add nothing.
        // (With no match, one new value cannot break a limit of at least 1.)
        return { profileId: matched.length > 0 ? matched[0]!.id : this.create(m), promoted: candidates };
      }
    }
  }

  /**
   * Whether the union of the matched profiles' identifiers and the new ones holds more
   * values of a type than its limit. With a frequency, only values seen on an event
   * received within the window count (the new ones always do).
   */
  private breaksLimit(matched: ProfileRow[], fresh: ExternalId[], now: number): boolean {
    if (matched.length <= 1 && fresh.length === 0) return false;
    const perType = new Map<string, number>();
    const bump = (t: string) => perType.set(t, (perType.get(t) ?? 0) + 1);
    for (const p of matched) {
      for (const r of this.stmts.countsOf.all(p.id) as { type: string; last_seen: number }[]) {
        const rule = this.limits.get(r.type);
        if (!rule || now - r.last_seen < rule.windowMs) bump(r.type);
      }
    }
    for (const x of fresh) bump(x.type);
    for (const [type, n] of perType) {
      const rule = this.limits.get(type);
      if (rule !== undefined && n > rule.limit) return true;
    }
    return false;
  }

  private create(m: GraphMessage): string {
    // Derived from the message that makes it: replaying the same log makes the same ids.
    const digest = createHash('sha256').update(`${m.sourceId}\0${m.messageId}`).digest();
    const id = `use_${base62(digest).slice(0, 27)}`;
    this.stmts.insertProfile.run(id, m.receivedAt, m.receivedAt, m.messageId, m.sourceId, m.messageId, m.sourceId);
    return id;
  }

  private merge(from: string, into: string, m: GraphMessage): void {
    this.stmts.moveIds.run(into, from);
    this.stmts.moveEvents.run(into, from);
    this.stmts.moveTraits.run(into, from);
    this.stmts.dropTraits.run(from);
    this.stmts.moveLinks.run(into, from);
    this.stmts.dropLinks.run(from);
    this.stmts.absorbMeta.run({ from, into });
    this.stmts.foldProfile.run(into, from, from);
    this.stmts.recordMerge.run(from, into, m.sourceId, m.messageId, m.receivedAt);
    this.stmts.setCount.run(into, into);
    const p = this.stmts.profile.get(into) as ProfileRow;
    if (p.event_count > this.eventsPerProfile) this.trim(into);
  }
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(bytes: Buffer): string {
  let n = BigInt(`0x${bytes.toString('hex')}`);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 62n)]! + out;
    n /= 62n;
  }
  return out.padStart(27, '0');
}
