import type { Redis } from 'ioredis';
import { MAX_SUBSCRIPTIONS, checkMessage, type Subscription, type SubscriptionListener } from './store.js';

/** How the Redis store's subscriber side behaves. */
export interface RedisSubscriberOptions {
  /** The store's key prefix; channels get it too (ioredis' keyPrefix does not apply to channels). */
  prefix: string;
  /** How often a live connection is pinged, and channels not yet confirmed are subscribed again. */
  heartbeatMs: number;
  /** Told about anything that goes wrong; the subscriber heals by itself. */
  onError: (error: Error & { code?: string }) => void;
}

interface Channel {
  listeners: Set<SubscriptionListener>;
  /** Redis confirmed SUBSCRIBE on the current connection: from then on, every message reaches us. */
  confirmed: boolean;
}

/**
 * The subscriber half of the Redis store, on a dedicated connection (a subscribed connection can run
 * no other command) created on the first subscribe. Redis pub/sub keeps no history: whatever is
 * published while the connection is down or before SUBSCRIBE is confirmed is lost. So a channel is
 * live only from the confirmation on the current connection until that connection closes, and its
 * listeners hear about every change. Channels are subscribed again (by us, not ioredis'
 * autoResubscribe, so we know when it is done) on every reconnect. A half-open TCP connection would
 * look live while hearing nothing, so a live connection is pinged every heartbeat and dropped (then
 * reconnected) when the ping fails.
 */
export function createRedisSubscriber(main: Redis, options: RedisSubscriberOptions) {
  const channels = new Map<string, Channel>();
  let subscriptions = 0;
  let connection: Redis | undefined;
  // Bumps on every close, so a SUBSCRIBE confirmed on a previous connection is not taken for this one.
  let connectionNumber = 0;
  let heartbeat: NodeJS.Timeout | undefined;
  let closed = false;

  const report = (error: unknown) => options.onError(error instanceof Error ? error : new Error(String(error)));
  const tell = (listener: SubscriptionListener, call: (listener: SubscriptionListener) => void) => {
    try {
      call(listener);
    } catch (error) {
      report(error);
    }
  };
  const setConfirmed = (channel: Channel, confirmed: boolean) => {
    if (channel.confirmed === confirmed) return;
    channel.confirmed = confirmed;
    for (const listener of [...channel.listeners]) tell(listener, (l) => l.onLiveChange(confirmed));
  };

  const subscribePending = (redis: Redis) => {
    const pending = [...channels].filter(([, channel]) => !channel.confirmed).map(([name]) => name);
    if (closed || pending.length === 0 || redis.status !== 'ready') return;
    const number = connectionNumber;
    // SUBSCRIBE is idempotent, so a heartbeat repeating one still in flight does no harm.
    redis.subscribe(...pending).then(() => {
      if (closed || number !== connectionNumber || redis.status !== 'ready') return;
      for (const name of pending) setConfirmed(channels.get(name)!, true);
    }, report);
  };

  const beat = (redis: Redis) => {
    if (closed || redis.status !== 'ready') return;
    if ([...channels.values()].some((channel) => !channel.confirmed)) {
      subscribePending(redis);
      return;
    }
    redis.ping().catch((error: unknown) => {
      report(error);
      // Forces a close (every channel stops being live) and a reconnect.
      if (!closed) redis.disconnect(true);
    });
  };

  const connect = (): Redis => {
    // Same server, timeouts and backoff as the store; ioredis would otherwise queue commands while offline.
    // Named, so an operator (or a test) can tell it from the command connection in CLIENT LIST.
    const redis = main.duplicate({
      lazyConnect: true,
      autoResubscribe: false,
      enableOfflineQueue: false,
      enableAutoPipelining: false,
      connectionName: `${options.prefix}:subscriber`,
    });
    redis.on('error', report);
    redis.on('ready', () => subscribePending(redis));
    redis.on('close', () => {
      connectionNumber += 1;
      for (const channel of channels.values()) setConfirmed(channel, false);
    });
    redis.on('message', (name: string, message: string) => {
      const channel = channels.get(name);
      if (channel) for (const listener of [...channel.listeners]) tell(listener, (l) => l.onMessage(message));
    });
    redis.connect().catch(() => {
      // Reported through 'error'; ioredis keeps reconnecting on its retry strategy.
    });
    heartbeat = setInterval(() => beat(redis), options.heartbeatMs);
    heartbeat.unref();
    return redis;
  };

  return {
    fullName: (channel: string) => `${options.prefix}:${channel}`,

    subscribe(channel: string, listener: SubscriptionListener): Subscription {
      checkMessage(channel, '');
      if (closed) throw new Error('the store is closed');
      if (subscriptions >= MAX_SUBSCRIPTIONS) throw new RangeError(`a store has at most ${MAX_SUBSCRIPTIONS} subscriptions`);
      subscriptions += 1;
      const name = `${options.prefix}:${channel}`;
      const entry = channels.get(name) ?? { listeners: new Set<SubscriptionListener>(), confirmed: false };
      entry.listeners.add(listener);
      channels.set(name, entry);
      connection ??= connect();
      subscribePending(connection);
      return {
        get live() {
          return !closed && entry.confirmed;
        },
      };
    },

    close(): void {
      closed = true;
      clearInterval(heartbeat);
      connection?.disconnect();
    },
  };
}
