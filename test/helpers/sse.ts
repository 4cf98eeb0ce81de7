// A small Server-Sent Events parser for tests (the WHATWG rules the server relies on): events are separated by
// blank lines; `event:` names one; `data:` lines join with '\n'; lines starting with ':' are comments.
export interface SseEvent {
  event: string | null;
  data: string;
}

export interface ParsedSse {
  events: SseEvent[];
  comments: string[];
}

export function parseSse(text: string): ParsedSse {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  for (const block of text.replace(/\r\n?/g, '\n').split('\n\n')) {
    let event: string | null = null;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '') continue;
      if (line.startsWith(':')) {
        comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else throw new Error(`unexpected SSE field '${field}' in: ${line}`);
    }
    if (data.length > 0) events.push({ event, data: data.join('\n') });
  }
  return { events, comments };
}

/** The JSON payloads of `data:` events, checking the stream ends with `data: [DONE]` when `done` is set. */
export function sseJson(text: string, { done }: { done: boolean }): unknown[] {
  const { events } = parseSse(text);
  const last = events.at(-1);
  if (done && last?.data !== '[DONE]')
    throw new Error(`stream does not end with [DONE]: ${text.slice(-200)}`);
  if (!done && last?.data === '[DONE]') throw new Error('unexpected [DONE]');
  return events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
}
