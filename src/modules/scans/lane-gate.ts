/**
 * Per-process admission of cells per target: at most `limit` (the version's maxInFlight) cells of all
 * the chunks this process runs for one target are between "marked sent" and "stored" at once. The
 * target limiter already caps requests in flight across processes; this caps what a crash can leave
 * behind: a dead worker's marked-and-unstored cells, each re-sent and counted as a retry, are never more
 * than maxInFlight however many chunks it ran concurrently (issue 6 §2).
 */
export function createLaneGate() {
  const gates = new Map<string, { active: number; waiters: Array<() => void> }>();

  const gateOf = (key: string) => {
    let gate = gates.get(key);
    if (!gate) gates.set(key, (gate = { active: 0, waiters: [] }));
    return gate;
  };

  return {
    /** Waits for a slot; false (and no slot) when `signal` aborts first. FIFO among waiters. */
    async enter(key: string, limit: number, signal: AbortSignal): Promise<boolean> {
      if (signal.aborted) return false;
      const gate = gateOf(key);
      if (gate.active < limit && gate.waiters.length === 0) {
        gate.active += 1;
        return true;
      }
      return new Promise<boolean>((resolve) => {
        const admit = () => {
          signal.removeEventListener('abort', onAbort);
          gate.active += 1;
          resolve(true);
        };
        const onAbort = () => {
          const position = gate.waiters.indexOf(admit);
          if (position >= 0) gate.waiters.splice(position, 1);
          resolve(false);
        };
        gate.waiters.push(admit);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },

    /** Gives the slot back and admits the next waiter; the gate is dropped when idle (bounded memory). */
    exit(key: string): void {
      const gate = gates.get(key);
      if (!gate) return;
      gate.active -= 1;
      const next = gate.waiters.shift();
      if (next) next();
      else if (gate.active <= 0) gates.delete(key);
    },
  };
}

export type LaneGate = ReturnType<typeof createLaneGate>;
