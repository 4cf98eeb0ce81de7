// The command line and environment that fill ServerConfig and EngineOptions (config.ts), with --help.
// Precedence: command-line flag > environment variable > default. Each flag has exactly one variable.
import { parseArgs } from 'node:util';
import type { EngineOptions } from '../model/engine-types.ts';
import {
  type CliConfig,
  ConfigError,
  type ConnectionLimits,
  DEFAULT_CONFIG,
  DEFAULT_ENGINE_MODULE,
  DEFAULT_ENGINE_OPTIONS,
  type ImageInputLimits,
  MB,
  resolveConfig,
  type ServerConfig,
  type ServerConfigInput,
} from './config.ts';

type Target = {
  server: ServerConfigInput & { images: Partial<ImageInputLimits>; limits: Partial<ConnectionLimits> };
  engine: EngineOptions;
  engineModule: string;
};

/** Turns a raw flag/variable value into a typed one; `say` names the source in error messages. */
type Parse<T> = (raw: string, say: string) => T;

interface OptionSpec {
  flag: string;
  env: string;
  arg: string;
  help: string;
  apply: (t: Target, raw: string, say: string) => void;
}

const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Parse<number> =>
  (raw, say) => {
    const v = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || v < min || v > max) {
      throw new ConfigError(`${say}: expected an integer in ${min}..${max}, got '${raw}'`);
    }
    return v;
  };

/** A non-negative decimal, multiplied by `unit` (MB -> bytes, seconds -> ms). */
const scaled =
  (unit: number, min = 0): Parse<number> =>
  (raw, say) => {
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v) || v < min) {
      throw new ConfigError(`${say}: expected a number >= ${min}, got '${raw}'`);
    }
    return Math.round(v * unit);
  };

const choice =
  <T extends string>(values: readonly T[]): Parse<T> =>
  (raw, say) => {
    if (!values.includes(raw as T))
      throw new ConfigError(`${say}: expected one of ${values.join(', ')}, got '${raw}'`);
    return raw as T;
  };

const text: Parse<string> = (raw) => raw;
const list: Parse<string[]> = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

type Spec = Omit<OptionSpec, 'apply'>;
const server =
  <K extends keyof ServerConfig>(key: K, parse: Parse<ServerConfig[K]>) =>
  (spec: Spec): OptionSpec => ({
    ...spec,
    apply: (t, raw, say) => {
      t.server[key] = parse(raw, say) as (typeof t.server)[K];
    },
  });
const images =
  <K extends keyof ImageInputLimits>(key: K, parse: Parse<ImageInputLimits[K]>) =>
  (spec: Spec): OptionSpec => ({
    ...spec,
    apply: (t, raw, say) => {
      t.server.images[key] = parse(raw, say);
    },
  });
const limits =
  <K extends keyof ConnectionLimits>(key: K, parse: Parse<ConnectionLimits[K]>) =>
  (spec: Spec): OptionSpec => ({
    ...spec,
    apply: (t, raw, say) => {
      t.server.limits[key] = parse(raw, say);
    },
  });
const engine =
  <K extends keyof EngineOptions>(key: K, parse: Parse<EngineOptions[K]>) =>
  (spec: Spec): OptionSpec => ({
    ...spec,
    apply: (t, raw, say) => {
      t.engine[key] = parse(raw, say);
    },
  });

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const DEVICES = ['cpu', 'webgpu', 'cuda'] as const;
const d = DEFAULT_CONFIG;
const dl = DEFAULT_CONFIG.limits;
const de = DEFAULT_ENGINE_OPTIONS;

const OPTIONS: OptionSpec[] = [
  engine(
    'model',
    text,
  )({ flag: 'model', env: 'UNITOK_MODEL', arg: 'DIR', help: `model directory (default ${de.model})` }),
  engine(
    'device',
    choice(DEVICES),
  )({
    flag: 'device',
    env: 'UNITOK_DEVICE',
    arg: DEVICES.join('|'),
    help: `execution provider (default ${de.device})`,
  }),
  engine(
    'maxQueue',
    int(0),
  )({
    flag: 'max-queue',
    env: 'UNITOK_MAX_QUEUE',
    arg: 'N',
    help: `queue bound before 429, in full-context requests of work (default ${de.maxQueue})`,
  }),
  engine(
    'maxBatch',
    int(1),
  )({
    flag: 'max-batch',
    env: 'UNITOK_MAX_BATCH',
    arg: 'N',
    help: `sequences decoded together, over all runners (default ${de.maxBatch})`,
  }),
  engine(
    'runners',
    int(1),
  )({
    flag: 'runners',
    env: 'UNITOK_RUNNERS',
    arg: 'N',
    help: 'model runner threads stepping their share of the batch at once, each with its own copy of the weights (default: one per 4 of --max-batch, at most one per core, when each graph runs on one thread: a small model on the CPU; else 1)',
  }),
  {
    flag: 'engine-module',
    env: 'UNITOK_ENGINE_MODULE',
    arg: 'PATH',
    help: `module exporting createEngine (default ${DEFAULT_ENGINE_MODULE})`,
    apply: (t, raw) => {
      t.engineModule = raw;
    },
  },
  server(
    'host',
    text,
  )({ flag: 'host', env: 'HOST', arg: 'ADDR', help: `listen address (default ${d.host})` }),
  server(
    'port',
    int(0, 65535),
  )({ flag: 'port', env: 'PORT', arg: 'N', help: `listen port, 0 = any free (default ${d.port})` }),
  server(
    'apiKeys',
    list,
  )({
    flag: 'api-key',
    env: 'UNITOK_API_KEY',
    arg: 'KEY[,KEY]',
    help: 'require Authorization: Bearer KEY (default none)',
  }),
  server(
    'servedModelName',
    text,
  )({
    flag: 'served-model-name',
    env: 'UNITOK_SERVED_MODEL_NAME',
    arg: 'NAME',
    help: "model id clients send (default the engine's)",
  }),
  server(
    'bodyLimitBytes',
    scaled(MB, 0.001),
  )({
    flag: 'body-limit-mb',
    env: 'UNITOK_BODY_LIMIT_MB',
    arg: 'MB',
    help: `request body limit (default ${d.bodyLimitBytes / MB})`,
  }),
  images(
    'maxBytes',
    scaled(MB, 0.001),
  )({
    flag: 'max-image-mb',
    env: 'UNITOK_MAX_IMAGE_MB',
    arg: 'MB',
    help: `bytes per input image (default ${d.images.maxBytes / MB})`,
  }),
  images(
    'maxPerRequest',
    int(0),
  )({
    flag: 'max-images',
    env: 'UNITOK_MAX_IMAGES',
    arg: 'N',
    help: `input images per request (default ${d.images.maxPerRequest})`,
  }),
  images(
    'maxPixels',
    int(1),
  )({
    flag: 'max-image-pixels',
    env: 'UNITOK_MAX_IMAGE_PIXELS',
    arg: 'N',
    help: `pixels per input image (default ${d.images.maxPixels})`,
  }),
  images(
    'allowedHosts',
    list,
  )({
    flag: 'allowed-image-hosts',
    env: 'UNITOK_ALLOWED_IMAGE_HOSTS',
    arg: 'HOST[,HOST]',
    help: 'hosts for http(s) image URLs, *.domain allowed (default none: data: URLs only)',
  }),
  images(
    'fetchTimeoutMs',
    int(1),
  )({
    flag: 'image-fetch-timeout-ms',
    env: 'UNITOK_IMAGE_FETCH_TIMEOUT_MS',
    arg: 'MS',
    help: `timeout fetching an image URL (default ${d.images.fetchTimeoutMs})`,
  }),
  server(
    'previewEvery',
    int(0),
  )({
    flag: 'preview-every',
    env: 'UNITOK_PREVIEW_EVERY',
    arg: 'N',
    help: `WebSocket preview every N visual tokens, 0 = none (default ${d.previewEvery})`,
  }),
  server(
    'sseKeepAliveMs',
    scaled(1000),
  )({
    flag: 'sse-ping-seconds',
    env: 'UNITOK_SSE_PING_SECONDS',
    arg: 'S',
    help: `SSE keep-alive comment interval, 0 = none (default ${d.sseKeepAliveMs / 1000})`,
  }),
  server(
    'requestTimeoutMs',
    scaled(1000),
  )({
    flag: 'request-timeout-seconds',
    env: 'UNITOK_REQUEST_TIMEOUT_SECONDS',
    arg: 'S',
    help: `stop a generation after S seconds, 0 = never (default ${d.requestTimeoutMs / 1000})`,
  }),
  server(
    'shutdownTimeoutMs',
    scaled(1000),
  )({
    flag: 'shutdown-timeout-seconds',
    env: 'UNITOK_SHUTDOWN_TIMEOUT_SECONDS',
    arg: 'S',
    help: `on SIGTERM, let in-flight requests finish for up to S seconds (default ${d.shutdownTimeoutMs / 1000})`,
  }),
  server(
    'corsOrigins',
    list,
  )({
    flag: 'cors-origins',
    env: 'UNITOK_CORS_ORIGINS',
    arg: 'ORIGIN[,ORIGIN]',
    help: `browser origins allowed by CORS, * = any, '' = none (default ${d.corsOrigins.join(',')})`,
  }),
  limits(
    'requestReceiveTimeoutMs',
    scaled(1000),
  )({
    flag: 'body-timeout-seconds',
    env: 'UNITOK_BODY_TIMEOUT_SECONDS',
    arg: 'S',
    help: `time to receive a whole request, 0 = none (default ${dl.requestReceiveTimeoutMs / 1000})`,
  }),
  limits(
    'headersTimeoutMs',
    scaled(1000, 0.001),
  )({
    flag: 'headers-timeout-seconds',
    env: 'UNITOK_HEADERS_TIMEOUT_SECONDS',
    arg: 'S',
    help: `time to receive the request headers (default ${dl.headersTimeoutMs / 1000})`,
  }),
  limits(
    'keepAliveTimeoutMs',
    scaled(1000, 0.001),
  )({
    flag: 'keep-alive-seconds',
    env: 'UNITOK_KEEP_ALIVE_SECONDS',
    arg: 'S',
    help: `close idle keep-alive connections after S seconds (default ${dl.keepAliveTimeoutMs / 1000})`,
  }),
  limits(
    'maxRequestsPerConnection',
    int(0),
  )({
    flag: 'max-requests-per-connection',
    env: 'UNITOK_MAX_REQUESTS_PER_CONNECTION',
    arg: 'N',
    help: `requests per keep-alive connection, 0 = unlimited (default ${dl.maxRequestsPerConnection})`,
  }),
  limits(
    'maxConnections',
    int(0),
  )({
    flag: 'max-connections',
    env: 'UNITOK_MAX_CONNECTIONS',
    arg: 'N',
    help: `open connections, WebSockets included, 0 = unlimited (default ${dl.maxConnections})`,
  }),
  limits(
    'wsMaxMessageBytes',
    scaled(MB, 0.001),
  )({
    flag: 'ws-max-message-mb',
    env: 'UNITOK_WS_MAX_MESSAGE_MB',
    arg: 'MB',
    help: `largest WebSocket message (default ${dl.wsMaxMessageBytes / MB})`,
  }),
  server(
    'logLevel',
    choice(LOG_LEVELS),
  )({
    flag: 'log-level',
    env: 'UNITOK_LOG_LEVEL',
    arg: 'LEVEL',
    help: `${LOG_LEVELS.join('|')} (default ${d.logLevel})`,
  }),
];

export function helpText(): string {
  const rows = OPTIONS.map((o) => [`  --${o.flag} ${o.arg}`, o.help, o.env]);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  return [
    'Usage: unitok-server [options]',
    '',
    'OpenAI-compatible HTTP + WebSocket server for the UniTok MLLM.',
    'Each option can also be set by the environment variable in brackets; flags win.',
    '',
    ...rows.map(([a, h, e]) => `${a.padEnd(w0)}  ${h} [${e}]`),
    `${'  -h, --help'.padEnd(w0)}  show this help`,
    '',
  ].join('\n');
}

export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(OPTIONS.map((o) => [o.flag, { type: 'string' as const }])),
      },
    }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}; see --help`);
  }
  const target: Target = {
    server: { images: {}, limits: {} },
    engine: { ...DEFAULT_ENGINE_OPTIONS },
    engineModule: DEFAULT_ENGINE_MODULE,
  };
  for (const o of OPTIONS) {
    const fromFlag = values[o.flag] as string | undefined;
    const raw = fromFlag ?? env[o.env];
    if (raw === undefined || (fromFlag === undefined && raw === '')) continue;
    o.apply(target, raw, fromFlag !== undefined ? `--${o.flag}` : o.env);
  }
  return {
    server: resolveConfig(target.server),
    engine: target.engine,
    engineModule: target.engineModule,
    help: values.help === true,
  };
}
