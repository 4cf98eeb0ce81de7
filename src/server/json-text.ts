// JSON text from clients (HTTP bodies, WebSocket messages) -> a value, refusing what JSON allows but the engine
// cannot take: strings with a lone UTF-16 surrogate (`"\ud800"`), which no UTF-8 tokenizer can encode.
import { invalidRequest, paramPath } from './errors.ts';

/** In a `u` regex a surrogate pair is one code point, so this matches only a lone surrogate. */
const LONE_SURROGATE = /\p{Cs}/u;
const wellFormed = (s: string) => !LONE_SURROGATE.test(s);

/** The path (`messages[0].content`) of the first string, key or value, that is not well-formed UTF-16. */
export function illFormedString(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return wellFormed(value) ? null : path;
  if (value === null || typeof value !== 'object') return null;
  for (const [key, item] of Object.entries(value)) {
    const at = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!wellFormed(key)) return at;
    const found = illFormedString(item, at);
    if (found !== null) return found;
  }
  return null;
}

/** Parses client JSON; a syntax error or an ill-formed string is a 400 naming where. */
export function parseJsonText(text: string, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalidRequest(
      `We could not parse the JSON ${what}: ${(err as Error).message}`,
      null,
      'invalid_json',
    );
  }
  const bad = illFormedString(value);
  if (bad !== null) {
    const param = paramPath(bad) || null;
    throw invalidRequest(
      `Invalid string${param ? ` at '${param}'` : ''}: it contains a lone UTF-16 surrogate (e.g. \\ud800), which is not text`,
      param,
      'invalid_string',
    );
  }
  return value;
}
