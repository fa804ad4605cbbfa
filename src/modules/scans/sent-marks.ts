import type { Store } from '../../platform/stores/index.js';

/** Store key of a cell's "sent" mark (ids only: no content leaves the database). */
export const sentMarkKey = (scanId: string, cellIndex: number) => `scan:${scanId}:sent:${cellIndex}`;

/** Keys per store call when marks are read or dropped in bulk. */
const SLICE = 500;

async function inSlices(cells: readonly number[], each: (slice: readonly number[]) => Promise<unknown>): Promise<void> {
  for (let offset = 0; offset < cells.length; offset += SLICE) await each(cells.slice(offset, offset + SLICE));
}

/** The cells of `cells` that carry a mark: an earlier run sent them and may have died before storing them. */
export async function markedCells(store: Pick<Store, 'getMany'>, scanId: string, cells: readonly number[]): Promise<Set<number>> {
  const marked = new Set<number>();
  await inSlices(cells, async (slice) => {
    const values = await store.getMany(slice.map((cell) => sentMarkKey(scanId, cell)));
    values.forEach((value, position) => value !== null && marked.add(slice[position]!));
  });
  return marked;
}

/**
 * Drops the marks of cells [start, end) once every one of them is stored. A mark matters only until its
 * attempt is durable; left to its TTL, a scan running at 1,500 cells/s would keep millions of keys alive.
 */
export async function forgetMarks(store: Pick<Store, 'deleteMany'>, scanId: string, start: number, end: number): Promise<void> {
  const cells = Array.from({ length: end - start }, (_, offset) => start + offset);
  await inSlices(cells, (slice) => store.deleteMany(slice.map((cell) => sentMarkKey(scanId, cell))));
}

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
