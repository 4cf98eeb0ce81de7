// Process-level helpers shared by the CLI entry points (src/server/cli.ts, src/main.ts): parse the command line
// and environment with --help and usage errors handled, then build, listen, and drain on SIGTERM/SIGINT.
import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Engine, EngineFactory } from '../model/engine-types.ts';
import { buildServer } from './app.ts';
import { helpText, parseCli } from './cli-options.ts';
import { type CliConfig, ConfigError } from './config.ts';

/** The parsed command line, or the exit status when there is nothing to serve (--help: 0, bad usage: 2). */
export function readCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliConfig | number {
  let cli: CliConfig;
  try {
    cli = parseCli(argv, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`unitok-server: ${err.message}\n`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(helpText());
    return 0;
  }
  return cli;
}

/** A start-up failure the operator can fix (busy port, bad model path): one line, exit status 1, no stack. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * Fails fast, before any model is loaded, when the address cannot be bound (a busy port would otherwise abort
 * the process from inside onnxruntime's threads). The probe socket closes before the real listen.
 */
async function checkAddress(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE' ? 'is already in use' : `cannot be bound (${err.code ?? err.message})`;
      reject(new StartupError(`${host}:${port} ${why}; choose another with --port or PORT`));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * Creates the engine, then serves at once (the readiness probe answers 503 until the engine is ready).
 * SIGTERM/SIGINT drain (lifecycle.ts), then close the server and the engine and exit 0; a second signal exits
 * at once with status 1.
 */
export async function serve(
  cli: CliConfig,
  createEngine: EngineFactory,
): Promise<{ app: FastifyInstance; engine: Engine }> {
  const { host, port } = cli.server;
  await checkAddress(host, port);
  // The engine checks decoded images against the limits the server applies to their bytes: one setting each.
  const { maxBytes, maxPixels } = cli.server.images;
  const engine = await createEngine({ ...cli.engine, imageLimits: { maxBytes, maxPixels } });
  const early = engine.info();
  if (early.status === 'failed') {
    await engine.close();
    throw new StartupError(`the model cannot be loaded from ${cli.engine.model}: ${early.statusMessage}`);
  }
  const app = buildServer({ engine, config: cli.server });
  // The one-line human start-up banner, as Fastify's "listening" log line.
  const banner = (address: string) =>
    `unitok-server listening on ${address}: model ${engine.info().id} (${engine.info().status}), device ${cli.engine.device}`;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      app.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    const timeoutMs = cli.server.shutdownTimeoutMs;
    app.log.info({ signal, timeoutMs }, 'draining: no new requests, waiting for the ones in flight');
    const report = await app.drain({ timeoutMs });
    app.log.info(
      report,
      `drained in ${Math.round(report.ms)} ms: ${report.finished} of ${report.inFlight} finished, ${report.ended} ended`,
    );
    await app.close();
    app.log.info('closed the server');
    await engine.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  try {
    await app.listen({ host, port, listenTextResolver: banner });
  } catch (err) {
    await engine.close();
    throw new StartupError(`cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  return { app, engine };
}

/** Runs `main` as the process: a status >= 0 exits with it, -1 keeps serving, a throw exits 1. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err) => {
      const text = err instanceof StartupError ? err.message : ((err as Error).stack ?? String(err));
      process.stderr.write(`unitok-server: ${text}\n`);
      process.exit(1);
    },
  );
}
