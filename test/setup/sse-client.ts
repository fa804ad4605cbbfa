/**
 * A fetch-based Server-Sent Events reader for tests (what a CLI or the console does: EventSource cannot
 * send Authorization). Parses the stream per the HTML spec's field rules, keeps comments apart, and
 * fails a wait after `timeoutMs` instead of hanging the test.
 */

export interface SseEvent {
  id?: string;
  event: string;
  data: unknown;
}

export interface EventStreamReader {
  response: Response;
  /** The next event (comments skipped), in arrival order. */
  nextEvent(timeoutMs?: number): Promise<SseEvent>;
  /** Waits for the next comment line with this text. */
  nextComment(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves when the server ends the stream (fails if it sends another event first). */
  ended(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function openEventStream(url: string, headers: Record<string, string>): Promise<EventStreamReader> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  if (response.status !== 200 || !response.body) throw new Error(`expected an event stream, got ${response.status}: ${await response.text()}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const queue: Array<{ kind: 'event'; event: SseEvent } | { kind: 'comment'; text: string }> = [];
  let buffer = '';
  let done = false;
  let wake: (() => void) | undefined;

  const parseBlock = (block: string) => {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) queue.push({ kind: 'comment', text: line.slice(1).trim() });
      else {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
    }
    if (data.length > 0) queue.push({ kind: 'event', event: { ...(id === undefined ? {} : { id }), event, data: JSON.parse(data.join('\n')) as unknown } });
  };

  void (async () => {
    try {
      for (;;) {
        const chunk = (await reader.read()) as { done: boolean; value?: Uint8Array };
        if (chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          parseBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
        wake?.();
      }
    } catch {
      // Aborted by close(): the stream is over either way.
    }
    done = true;
    wake?.();
  })();

  async function take<T>(pick: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = pick();
      if (found !== undefined) return found;
      if (done) throw new Error(`stream ended while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  return {
    response,
    nextEvent: (timeoutMs = 5000) =>
      take(
        () => {
          while (queue[0]?.kind === 'comment') queue.shift();
          const item = queue.shift();
          return item?.kind === 'event' ? item.event : undefined;
        },
        'an event',
        timeoutMs,
      ),
    nextComment: (text, timeoutMs = 5000) =>
      take(
        () => {
          const index = queue.findIndex((item) => item.kind === 'comment' && item.text === text);
          if (index < 0) return undefined;
          queue.splice(0, index + 1);
          return true;
        },
        `comment "${text}"`,
        timeoutMs,
      ).then(() => undefined),
    async ended(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!done && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      const events = queue.filter((item) => item.kind === 'event');
      if (!done) throw new Error('the stream did not end');
      if (events.length > 0) throw new Error(`the stream sent ${events.length} more event(s) before it ended`);
    },
    async close() {
      abort.abort();
      await reader.cancel().catch(() => undefined);
    },
  };
}
