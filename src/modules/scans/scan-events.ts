import type { Db } from '../../platform/db/database.js';
import type { Tx } from '../../platform/db/transaction.js';
import type { Logger } from '../../platform/logger.js';
import type { Store, Subscription } from '../../platform/stores/store.js';
import type { ScanEventLog, ScanEventType } from './scan-contract.js';

/**
 * A scan's event log (issue 6 §5; DESIGN §9 "Server-Sent Events"). The `scan_events` rows ARE the log:
 * writers append in their own transaction, and after COMMIT publish the scan id on the store channel, so
 * the followers in every API process wake up and read the rows they have not sent from the database. The
 * message carries no payload (an id only: MAX_MESSAGE_LENGTH, no content in Redis), and a lost message
 * costs latency, never an event: followers also poll, every second while the channel is not live.
 */

/** The store channel every writer publishes on and every API process listens to (one subscription each). */
export const SCAN_EVENTS_CHANNEL = 'scan-events';
/** Event data is counts and statuses: anything bigger is a bug (it is copied to every follower). */
export const MAX_EVENT_DATA_CHARS = 4096;

export interface ScanEventRow {
  id: number;
  type: string;
  data: Record<string, unknown>;
}

export function createScanEventLog(deps: { store: Pick<Store, 'publish'>; logger: Pick<Logger, 'warn'> }): ScanEventLog {
  return {
    async append(tx: Tx, event: { scanId: string; orgId: string; type: ScanEventType; data: Record<string, unknown> }): Promise<number> {
      const data = JSON.stringify(event.data);
      if (data.length > MAX_EVENT_DATA_CHARS) throw new RangeError(`scan event data is at most ${MAX_EVENT_DATA_CHARS} characters`);
      // Ids come from a sequence at INSERT, but transactions commit in any order: a follower that sent id 11
      // would never send a 10 committed later. Holding the scan's row lock from before the insert until
      // COMMIT makes one scan's appends commit in id order (writers update the same row's counters anyway).
      await tx.selectFrom('scans').select('id').where('id', '=', event.scanId).where('orgId', '=', event.orgId).forUpdate().executeTakeFirstOrThrow();
      const row = await tx
        .insertInto('scanEvents')
        .values({ scanId: event.scanId, orgId: event.orgId, type: event.type, data })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    },

    async notify(scanId: string): Promise<void> {
      try {
        await deps.store.publish(SCAN_EVENTS_CHANNEL, scanId);
      } catch (error) {
        // The events are committed; followers find them on their next poll.
        deps.logger.warn({ err: (error as Error).message, scanId }, 'scan event notification not published');
      }
    },
  };
}

/** Reads of the log: the rows after a given id, in id order, for one scan of one organisation. */
export function createScanEventReader(deps: { db: Db }) {
  return {
    async after(orgId: string, scanId: string, afterId: number, limit: number): Promise<ScanEventRow[]> {
      return deps.db
        .selectFrom('scanEvents')
        .select(['id', 'type', 'data'])
        .where('scanId', '=', scanId)
        .where('orgId', '=', orgId)
        .where('id', '>', afterId)
        .orderBy('id')
        .limit(limit)
        .execute();
    },
  };
}

export type ScanEventReader = ReturnType<typeof createScanEventReader>;

/** One stream's wake-up source: resolves `wait` on a notification for its scan, a timeout, or close. */
export interface ScanEventFollower {
  /** Waits for a notification for this scan, at most the poll interval (shorter while the channel is not live). */
  wait(): Promise<void>;
  close(): void;
}

export interface FollowerTiming {
  /** Poll interval while notifications are not trusted (channel not live): DESIGN asks for 1 s. */
  pollIntervalMs: number;
  /** Safety re-read while live: covers a publish that failed after its COMMIT. */
  livePollIntervalMs: number;
}

export const DEFAULT_FOLLOWER_TIMING: FollowerTiming = { pollIntervalMs: 1000, livePollIntervalMs: 5000 };

/**
 * The process's listener on the channel: ONE store subscription (the store allows few), fanned out to the
 * followers of each scan. On becoming live again every follower wakes, since messages sent meanwhile are lost.
 */
export function createScanEventHub(deps: { store: Pick<Store, 'subscribe'>; timing?: Partial<FollowerTiming> }) {
  const timing = { ...DEFAULT_FOLLOWER_TIMING, ...deps.timing };
  const byScan = new Map<string, Set<() => void>>();
  let subscription: Subscription | undefined;

  const wakeAll = () => {
    for (const wakers of byScan.values()) for (const wake of wakers) wake();
  };
  const ensureSubscribed = () => {
    subscription ??= deps.store.subscribe(SCAN_EVENTS_CHANNEL, {
      onMessage: (scanId) => {
        for (const wake of byScan.get(scanId) ?? []) wake();
      },
      onLiveChange: (live) => {
        if (live) wakeAll();
      },
    });
    return subscription;
  };

  return {
    follow(scanId: string): ScanEventFollower {
      const live = ensureSubscribed();
      let pending = false;
      let resolveWait: (() => void) | undefined;
      let closed = false;
      // A notification that arrives while the stream is busy writing is kept, so it is not missed.
      const wake = () => {
        if (resolveWait) resolveWait();
        else pending = true;
      };
      let wakers = byScan.get(scanId);
      if (!wakers) byScan.set(scanId, (wakers = new Set()));
      wakers.add(wake);
      return {
        wait() {
          if (closed || pending) {
            pending = false;
            return Promise.resolve();
          }
          return new Promise<void>((resolve) => {
            const timer = setTimeout(done, live.live ? timing.livePollIntervalMs : timing.pollIntervalMs);
            function done() {
              clearTimeout(timer);
              resolveWait = undefined;
              resolve();
            }
            resolveWait = done;
          });
        },
        close() {
          closed = true;
          wakers.delete(wake);
          if (wakers.size === 0) byScan.delete(scanId);
          resolveWait?.();
        },
      };
    },
    /** Streams following right now (all scans), for the caps and tests. */
    followers: () => [...byScan.values()].reduce((sum, wakers) => sum + wakers.size, 0),
  };
}

export type ScanEventHub = ReturnType<typeof createScanEventHub>;
