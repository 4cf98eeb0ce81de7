// Chat messages -> engine messages: image_url parts become raw bytes (data: URLs decoded, allow-listed http(s)
// URLs fetched), with the server's count and size limits. Decoding pixels is the engine's job (InvalidImageError).
import { CancelledError, type ChatContentPart, type ChatMessage } from '../model/engine-types.ts';
import type { ChatCompletionRequestMessage } from './api-types.generated.ts';
import type { ImageInputLimits } from './config.ts';
import { ApiError, invalidRequest } from './errors.ts';

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

const partParam = (m: number, p: number) => `messages[${m}].content[${p}].image_url.url`;

function tooLarge(bytes: number, limits: ImageInputLimits, param: string) {
  return invalidRequest(
    `Image at '${param}' is ${bytes} bytes; the limit is ${limits.maxBytes} bytes per image`,
    param,
    'image_too_large',
  );
}

function decodeDataUrl(url: string, limits: ImageInputLimits, param: string): Buffer {
  const comma = url.indexOf(',');
  const header = comma < 0 ? url : url.slice(5, comma);
  const [mediaType, ...flags] = header.split(';');
  if (comma < 0 || !flags.includes('base64')) {
    throw invalidRequest(
      `Invalid data URL at '${param}': expected data:image/<type>;base64,<data>`,
      param,
      'invalid_image_url',
    );
  }
  if (!mediaType.startsWith('image/')) {
    throw invalidRequest(
      `Invalid data URL at '${param}': media type '${mediaType}' is not an image`,
      param,
      'invalid_image_url',
    );
  }
  const data = url.slice(comma + 1).replace(/\s+/g, '');
  // Check the size before decoding so an oversized upload costs no allocation.
  const estimated =
    Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);
  if (estimated > limits.maxBytes) throw tooLarge(estimated, limits, param);
  if (data.length === 0 || !BASE64.test(data)) {
    throw invalidRequest(
      `Invalid data URL at '${param}': the data is not base64`,
      param,
      'invalid_image_url',
    );
  }
  return Buffer.from(data, data.includes('-') || data.includes('_') ? 'base64url' : 'base64');
}

const hostAllowed = (host: string, allowed: string[]) =>
  allowed.some((a) => a === host || (a.startsWith('*.') && host.endsWith(a.slice(1))));

async function fetchImage(
  url: URL,
  limits: ImageInputLimits,
  param: string,
  signal: AbortSignal,
): Promise<Buffer> {
  if (limits.allowedHosts.length === 0) {
    throw invalidRequest(
      `Image URLs are disabled on this server ('${param}'); send the image inline as a data:image/...;base64 URL`,
      param,
      'image_url_not_allowed',
    );
  }
  if (!hostAllowed(url.hostname, limits.allowedHosts)) {
    throw invalidRequest(
      `Image host '${url.hostname}' is not on this server's allow-list ('${param}')`,
      param,
      'image_url_not_allowed',
    );
  }
  const timeout = AbortSignal.timeout(limits.fetchTimeoutMs);
  try {
    // No redirects: a redirect could lead off the allow-list (SSRF).
    const res = await fetch(url, { redirect: 'error', signal: AbortSignal.any([signal, timeout]) });
    if (!res.ok || !res.body) {
      throw invalidRequest(
        `Could not fetch the image at '${param}': HTTP ${res.status}`,
        param,
        'image_fetch_failed',
      );
    }
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > limits.maxBytes) throw tooLarge(declared, limits, param);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      total += chunk.byteLength;
      if (total > limits.maxBytes) throw tooLarge(total, limits, param);
      chunks.push(Buffer.from(chunk));
    }
    return Buffer.concat(chunks);
  } catch (err) {
    if (signal.aborted) throw new CancelledError();
    if (timeout.aborted) {
      throw invalidRequest(
        `Fetching the image at '${param}' timed out after ${limits.fetchTimeoutMs} ms`,
        param,
        'image_fetch_timeout',
      );
    }
    if (err instanceof ApiError) throw err;
    throw invalidRequest(
      `Could not fetch the image at '${param}': ${(err as Error).message}`,
      param,
      'image_fetch_failed',
    );
  }
}

/** An image URL's bytes (data: decoded, allow-listed http(s) fetched); errors name `param`. */
export async function loadImage(
  url: string,
  limits: ImageInputLimits,
  param: string,
  signal: AbortSignal,
): Promise<Buffer> {
  if (url.startsWith('data:')) return decodeDataUrl(url, limits, param);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidRequest(`Invalid image URL at '${param}'`, param, 'invalid_image_url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalidRequest(
      `Unsupported image URL scheme '${parsed.protocol}' at '${param}'`,
      param,
      'invalid_image_url',
    );
  }
  return fetchImage(parsed, limits, param, signal);
}

export const countImages = (messages: ChatCompletionRequestMessage[]) =>
  messages.reduce(
    (n, m) => n + (Array.isArray(m.content) ? m.content.filter((p) => p.type === 'image_url').length : 0),
    0,
  );

/** Where a request keeps its messages, for error `param`s (the Responses API calls them `input`). */
export interface MessageParams {
  list: string;
  image: (message: number, part: number) => string;
}

const CHAT_PARAMS: MessageParams = { list: 'messages', image: partParam };

/** Converts OpenAI messages to engine messages, one engine part per client part (so error indices map back). */
export async function toEngineMessages(
  messages: ChatCompletionRequestMessage[],
  limits: ImageInputLimits,
  signal: AbortSignal,
  params: MessageParams = CHAT_PARAMS,
): Promise<ChatMessage[]> {
  const images = countImages(messages);
  if (images > limits.maxPerRequest) {
    throw invalidRequest(
      `Too many images: ${images} in this request; the limit is ${limits.maxPerRequest}`,
      params.list,
      'too_many_images',
    );
  }
  return Promise.all(
    messages.map(async (m, mi): Promise<ChatMessage> => {
      const role = m.role === 'developer' ? 'system' : m.role;
      if (typeof m.content === 'string') return { role, content: [{ type: 'text', text: m.content }] };
      const content = await Promise.all(
        m.content.map(
          async (part, pi): Promise<ChatContentPart> =>
            part.type === 'text'
              ? { type: 'text', text: part.text }
              : {
                  type: 'image',
                  data: await loadImage(part.image_url.url, limits, params.image(mi, pi), signal),
                },
        ),
      );
      return { role, content };
    }),
  );
}
