import type { Clock } from '../../platform/clock.js';

/** A dependency readiness depends on: a name and a cheap reachability probe. */
export interface HealthComponent {
  name: string;
  ping(): Promise<void>;
}

export interface ComponentStatus {
  status: 'up' | 'down';
  latencyMs: number;
}

const withTimeout = <T>(promise: Promise<T>, timeoutMs: number): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });

/** Probes every component in parallel, each bounded so readiness itself never hangs. */
export function createHealthService(deps: { components: readonly HealthComponent[]; clock: Clock; timeoutMs: number }) {
  return {
    async check(): Promise<{ ready: boolean; components: Record<string, ComponentStatus> }> {
      const results = await Promise.all(
        deps.components.map(async (component) => {
          const started = deps.clock.nowMs();
          try {
            await withTimeout(component.ping(), deps.timeoutMs);
            return [component.name, { status: 'up', latencyMs: deps.clock.nowMs() - started }] as const;
          } catch {
            return [component.name, { status: 'down', latencyMs: deps.clock.nowMs() - started }] as const;
          }
        }),
      );
      const components: Record<string, ComponentStatus> = {};
      for (const [name, result] of results) components[name] = result;
      return { ready: results.every(([, result]) => result.status === 'up'), components };
    },
  };
}

export type HealthService = ReturnType<typeof createHealthService>;
