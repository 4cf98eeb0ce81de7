// The clients and child processes of bench/engine.ts: the engine in-process, a server over HTTP (SSE), the
// floor (bench/floor.ts) and the server (`npm start`) in processes of their own.
import { fork, spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startEngine } from '../src/model/main-thread/engine.ts';

/** What every client asks: the model folder and how many tokens per stream. */
export interface BenchTarget {
  model: string;
  tokens: number;
  /**
   * Generate past EOS (vLLM's ignore_eos), so that every stream yields `tokens` tokens whatever the model answers
   * (the demo model replies to the bench prompt in a sentence); false for servers that predate the parameter.
   */
  ignoreEos?: boolean;
}

export const prompt = (i: number) => `Write a long story about the number ${i} and the sea.`;

// ------------------------------------------------------------------------------------------------ clients

/** One streamed chat request: the time of each text chunk and the tokens it carried. */
export interface Trace {
  start: number;
  chunks: { at: number; tokens: number }[];
  outputTokens: number;
}

export type Client = {
  /** What the table calls it: the multi-step setting, or 'http'. */
  label: string;
  chat(i: number, temperature: number): Promise<Trace>;
  /** One request for n images, each the best of `bestOf` drawings: ms to the first visual token (in-process; with
   * best_of, to the first of the chosen drawing's, all sent at once) and to the end. */
  image(n: number, bestOf: number): Promise<{ first: number; total: number }>;
  /** Called before the clock starts on `streams` chats (curl: starts its processes, which then wait for a body). */
  prepare?(streams: number): Promise<void>;
  /** Steps run and the runner's busy ms so far (in-process engine only). */
  work(): { steps: number; busyMs: number } | null;
  close(): Promise<void>;
};

/** The engine's knobs a bench compares: EngineTuning's multiStep, EngineOptions.runners. */
export interface EngineKnobs {
  multiStep: number;
  runners?: number;
}

export async function engineClient(
  { model, tokens, ignoreEos = true }: BenchTarget,
  { multiStep, runners }: EngineKnobs,
): Promise<Client> {
  const engine = await startEngine({
    model,
    device: 'cpu',
    maxQueue: 64,
    maxBatch: 8,
    multiStep,
    runners,
  });
  await engine.loaded;
  if (engine.info().status !== 'ready') throw new Error(engine.info().statusMessage);
  const signal = new AbortController().signal;
  return {
    label: `${multiStep}${runners ? `, ${runners} runner${runners > 1 ? 's' : ''}` : ''}`,
    async chat(i, temperature) {
      const start = performance.now();
      const stream = await engine.submitChat(engineChat({ tokens, ignoreEos }, i, temperature, signal));
      const trace: Trace = { start, chunks: [], outputTokens: 0 };
      for await (const e of stream) {
        if (e.type === 'text') trace.chunks.push({ at: performance.now(), tokens: e.tokens });
        else trace.outputTokens = e.completionTokens;
      }
      return trace;
    },
    async image(n, bestOf) {
      const start = performance.now();
      const stream = await engine.submitImage({
        id: 'bench-image',
        n,
        signal,
        prompt: 'a red cube on a wooden table',
        sampling: { temperature: 1, topK: 0, topP: 1, seed: 1, guidanceScale: 7, bestOf },
        previewAt: [],
      });
      let first = 0;
      for await (const e of stream) if (e.type === 'codes' && !first) first = performance.now() - start;
      return { first, total: performance.now() - start };
    },
    work: () => ({ steps: engine.stats().steps ?? 0, busyMs: engine.stats().busy?.total ?? 0 }),
    close: () => engine.close(),
  };
}

/** Stream i's chat request to an in-process engine: bench prompt i, seed i, TOKENS tokens. */
export const engineChat = (
  { tokens, ignoreEos = true }: Pick<BenchTarget, 'tokens' | 'ignoreEos'>,
  i: number,
  temperature: number,
  signal: AbortSignal,
) => ({
  id: `bench-${i}`,
  n: 1,
  signal,
  messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: prompt(i) }] }],
  sampling: { temperature, topK: 0, topP: 1, seed: i },
  maxTokens: tokens,
  stop: [],
  ignoreEos,
});

/** The model a running server serves. */
const servedModel = async (url: string) =>
  ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data[0].id;

/** Stream i's chat request body for the HTTP clients (the model and `stream` are theirs to add). */
const chatBody = ({ tokens, ignoreEos = true }: BenchTarget, i: number, temperature: number) => ({
  messages: [{ role: 'user', content: prompt(i) }],
  max_tokens: tokens,
  ...(ignoreEos ? { ignore_eos: true } : {}),
  temperature,
  seed: i,
  stream_options: { include_usage: true },
});

/** The same requests against a running server (e.g. `npm start`), through its SSE streams. */
export async function httpClient(target: BenchTarget, url: string, name = ''): Promise<Client> {
  const served = await servedModel(url);
  async function* sse(path: string, body: object): AsyncGenerator<Record<string, unknown>> {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: served, stream: true, ...body }),
    });
    if (!res.ok || !res.body) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    let buffer = '';
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += Buffer.from(bytes).toString('utf8');
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const data = buffer
          .slice(0, end)
          .split('\n')
          .find((l) => l.startsWith('data: '))
          ?.slice(6);
        buffer = buffer.slice(end + 2);
        if (data && data !== '[DONE]') yield JSON.parse(data);
        end = buffer.indexOf('\n\n');
      }
    }
  }
  return {
    label: name ? `http:${name}` : 'http',
    async chat(i, temperature) {
      const trace: Trace = { start: performance.now(), chunks: [], outputTokens: 0 };
      for await (const chunk of sse('/v1/chat/completions', chatBody(target, i, temperature))) {
        const choice = (chunk.choices as { delta: { content?: string } }[])[0];
        if (choice?.delta.content) trace.chunks.push({ at: performance.now(), tokens: 1 });
        const usage = chunk.usage as { completion_tokens: number } | undefined;
        if (usage) trace.outputTokens = usage.completion_tokens;
      }
      return trace;
    },
    async image(n, bestOf) {
      const start = performance.now();
      let first = 0;
      for await (const event of sse('/v1/images/generations', {
        prompt: 'a red cube on a wooden table',
        n,
        seed: 1,
        best_of: bestOf,
        partial_images: bestOf > 1 ? 0 : 1, // a preview needs a single drawing
      })) {
        if (!first) first = performance.now() - start;
        void event;
      }
      return { first, total: performance.now() - start };
    },
    work: () => null,
    close: async () => {},
  };
}

/**
 * The same requests through curl, one process per stream, parsed only once it exits: a client that takes next to
 * no CPU, so that on a machine of a few cores the server keeps the cores a node client (JSON per chunk) would use.
 * The processes start before the clock (`prepare`) and wait for their request body on stdin, so no row pays for
 * starting them. Throughput only: no per-chunk times (TTFT and ITL come out empty); images time the request.
 */
export async function curlClient(target: BenchTarget, url: string, name = ''): Promise<Client> {
  const served = await servedModel(url);
  type Waiting = { send(body: object): Promise<string> };
  const start = (path: string): Waiting => {
    const curl = spawn('curl', [
      '-sS',
      '-N',
      '-H',
      'content-type: application/json',
      '--data-binary',
      '@-',
      `${url}${path}`,
    ]);
    const out: Buffer[] = [];
    curl.stdout.on('data', (b: Buffer) => out.push(b));
    const done = new Promise<string>((resolve, reject) => {
      curl.on('error', reject);
      curl.on('close', (code) =>
        code === 0
          ? resolve(Buffer.concat(out).toString('utf8'))
          : reject(new Error(`curl ${path}: exit ${code}`)),
      );
    });
    return {
      send(body) {
        curl.stdin.end(JSON.stringify({ model: served, stream: true, ...body }));
        return done;
      },
    };
  };
  let ready: Waiting[] = [];
  return {
    label: name ? `http-curl:${name}` : 'http-curl',
    async prepare(streams) {
      ready = Array.from({ length: streams }, () => start('/v1/chat/completions'));
      await new Promise((resolve) => setTimeout(resolve, 150)); // curl has started and waits on stdin
    },
    async chat(i, temperature) {
      const trace: Trace = { start: performance.now(), chunks: [], outputTokens: 0 };
      const text = await (ready.pop() ?? start('/v1/chat/completions')).send(
        chatBody(target, i, temperature),
      );
      const usage = text.lastIndexOf('"completion_tokens":');
      if (usage < 0) throw new Error(`curl chat: no usage in the stream: ${text.slice(-300)}`);
      trace.outputTokens = Number.parseInt(text.slice(usage + 20), 10);
      return trace;
    },
    async image(n, bestOf) {
      const waiting = start('/v1/images/generations');
      const t0 = performance.now();
      await waiting.send({ prompt: 'a red cube on a wooden table', n, seed: 1, best_of: bestOf });
      return { first: Number.NaN, total: performance.now() - t0 };
    },
    work: () => null,
    close: async () => {},
  };
}

// ------------------------------------------------------------------------------------------------ the floor

/**
 * bench/floor.ts in a child process of its own, asked for one measurement at a time: this checkout's, or that of
 * the checkout at `root` (bench/floor-compare.ts).
 */
export async function floorProcess(
  { model, tokens }: BenchTarget,
  root = fileURLToPath(new URL('..', import.meta.url)),
  args: string[] = [],
): Promise<{
  text(batch: number): Promise<number>;
  image(): Promise<number>;
  close(): void;
}> {
  const child = fork(`${root}/bench/floor.ts`, ['--model', model, '--tokens', String(tokens), ...args], {
    cwd: root,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = () =>
    new Promise<{ ms?: number; ready?: boolean }>((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`bench/floor.ts exited with ${code}`));
      child.once('exit', exited);
      child.once('message', (m: { ms?: number; ready?: boolean }) => {
        child.off('exit', exited);
        resolve(m);
      });
    });
  await next(); // ready
  const ask = async (m: object) => {
    const reply = next();
    child.send(m);
    return (await reply).ms as number;
  };
  return {
    text: (batch) => ask({ kind: 'text', batch }),
    image: () => ask({ kind: 'image' }),
    close: () => child.send({ kind: 'exit' }),
  };
}

/**
 * `npm start` on the same model in a child process, on a free loopback port, of this checkout or of another one at
 * `root` (e.g. a `git worktree` of an earlier commit), with `args` added; resolves once it is ready.
 */
export async function serverProcess(
  { model }: BenchTarget,
  root = fileURLToPath(new URL('..', import.meta.url)),
  args: string[] = [],
): Promise<{ url: string; close(): void }> {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/main.ts',
      '--model',
      model,
      '--port',
      String(port),
      '--log-level',
      'warn',
      '--max-queue',
      '64',
      ...args,
    ],
    {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, close: () => child.kill('SIGTERM') };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGTERM');
  throw new Error('the server did not become ready in 120 s');
}
