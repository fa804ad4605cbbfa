/**
 * FIFO mutual exclusion over PGlite's single database session. Every Kysely connection
 * acquisition holds it until release, so a transaction owns the session from BEGIN to
 * COMMIT and nothing interleaves with it (the bug that rules out `kysely-pglite`).
 */
export class DatabaseBusyError extends Error {
  constructor(timeoutMs: number) {
    super(
      `the embedded database session stayed busy for ${timeoutMs} ms; ` +
        'a query inside a transaction may be using the root handle instead of the transaction',
    );
    this.name = 'DatabaseBusyError';
  }
}

interface Waiter {
  grant: () => void;
  timer: NodeJS.Timeout;
}

export function createSessionMutex(acquireTimeoutMs: number) {
  let held = false;
  const waiters: Waiter[] = [];

  return {
    acquire(): Promise<void> {
      if (!held) {
        held = true;
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = {
          grant: () => {
            clearTimeout(waiter.timer);
            resolve();
          },
          timer: setTimeout(() => {
            waiters.splice(waiters.indexOf(waiter), 1);
            reject(new DatabaseBusyError(acquireTimeoutMs));
          }, acquireTimeoutMs),
        };
        waiters.push(waiter);
      });
    },
    release(): void {
      const next = waiters.shift();
      // Hand the session straight to the next waiter so nobody can jump the queue.
      if (next) next.grant();
      else held = false;
    },
    get waiting(): number {
      return waiters.length;
    },
  };
}
