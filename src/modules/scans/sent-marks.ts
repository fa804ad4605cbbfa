import type { Store } from '../../platform/stores/index.js';

/** Store key of a cell's "sent" mark (ids only: no content leaves the database). */
export const sentMarkKey = (scanId: string, cellIndex: number) => `scan:${scanId}:sent:${cellIndex}`;

/**
 * A chunk run's "sent" marks, written in groups: the cells that ask within one turn of the event loop
 * (typically the lanes a batch commit just released) share one store call. Each caller still waits until
 * ITS mark is stored before its request leaves, so a dead worker's unstored cells are all found marked
 * and re-sent as retries, exactly as with one write per cell.
 */
export function createSentMarks(deps: { store: Pick<Store, 'setMany'>; scanId: string; ttlSeconds: number }) {
  let pending: string[] = [];
  let written: Promise<void> | undefined;

  const write = (): Promise<void> => {
    const keys = pending;
    pending = [];
    written = undefined;
    return deps.store.setMany(keys, '1', deps.ttlSeconds);
  };

  return {
    mark(cellIndex: number): Promise<void> {
      pending.push(sentMarkKey(deps.scanId, cellIndex));
      written ??= new Promise<void>((resolve) => setImmediate(resolve)).then(write);
      return written;
    },
  };
}
