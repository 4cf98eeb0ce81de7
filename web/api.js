// The page's only way to the server: JSON and SSE over fetch, and the image WebSocket, all same-origin and all
// carrying the API key the person typed (if any). Failures become ApiError with the server's own message.

const KEY_STORAGE = 'unitok-api-key';

export class ApiError extends Error {
  constructor(message, { status = 0, code = null, param = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

// Session storage: the key survives a reload but not the browser session, and never leaves this origin.
let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? '';
const authListeners = new Set();

export const getApiKey = () => apiKey;

export function setApiKey(key) {
  apiKey = key.trim();
  if (apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** `listener(error)` runs whenever the server refuses the key (401), so the page can ask for one. */
export function onAuthError(listener) {
  authListeners.add(listener);
}

function headers(extra = {}) {
  return apiKey ? { ...extra, authorization: `Bearer ${apiKey}` } : extra;
}

/** The OpenAI error envelope `{error: {message, code, param}}` as an ApiError. */
export function envelopeError(body, status = 0) {
  const e = body?.error ?? {};
  const message = e.message ?? 'The server sent an error without a message';
  const where = e.param && !message.includes(e.param) ? ` (${e.param})` : '';
  return new ApiError(`${message}${where}`, {
    status,
    code: e.code ?? null,
    param: e.param ?? null,
  });
}

async function failure(res) {
  let body;
  try {
    body = await res.json();
  } catch {
    body = { error: { message: `${res.status} ${res.statusText}` } };
  }
  const error = envelopeError(body, res.status);
  if (res.status === 401) for (const listener of authListeners) listener(error);
  return error;
}

async function request(path, init) {
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(`Cannot reach the server: ${err.message}`);
  }
  if (!res.ok) throw await failure(res);
  return res;
}

export async function getJson(path) {
  const res = await request(path, { headers: headers() });
  return res.json();
}

/** POSTs `body` as JSON and returns the parsed reply. */
export async function postJson(path, body, signal) {
  const res = await request(path, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json' }),
    body: JSON.stringify(body),
    signal,
  });
  return res.json();
}

/** POSTs `body` with `stream: true` and yields each SSE `data:` payload, parsed, until `[DONE]`. */
export async function* postStream(path, body, signal) {
  const res = await request(path, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json' }),
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    // Events end with a blank line; lines starting with ':' are keep-alive comments.
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n');
      if (data === '[DONE]') return;
      if (data) {
        const parsed = JSON.parse(data);
        if (parsed.error) throw envelopeError(parsed);
        yield parsed;
      }
      end = buffer.indexOf('\n\n');
    }
  }
  throw new ApiError('The reply stopped before it was complete (the connection closed)');
}

const base64url = (text) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');

/** Opens the image WebSocket; a browser cannot send headers there, so the key rides in a subprotocol. */
export function openImageStream() {
  const url = new URL('/v1/images/stream', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const protocols = apiKey ? ['unitok', `bearer.${base64url(apiKey)}`] : [];
  return new WebSocket(url, protocols);
}

/**
 * A WebSocket that closed before opening tells the page nothing (browsers hide the HTTP status), so ask the
 * HTTP API why: it answers with the same auth and availability errors.
 */
export async function explainStreamFailure() {
  try {
    await getJson('/v1/models');
  } catch (err) {
    return err;
  }
  return new ApiError(
    'Could not open the image stream (/v1/images/stream); the server refused the connection',
  );
}
