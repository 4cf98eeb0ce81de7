// Process-level helpers shared by the CLI entry points (src/server/cli.ts, src/main.ts): parse the command line
// and environment with --help and usage errors handled, then build, listen and shut down on SIGINT/SIGTERM.
import type { FastifyInstance } from 'fastify';
import type { Engine, EngineFactory } from '../model/engine-types.ts';
import { buildServer } from './app.ts';
import { type CliConfig, ConfigError, helpText, parseCli } from './config.ts';

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

/**
 * Creates the engine, then serves at once (/health answers 503 until the engine is ready); SIGINT/SIGTERM
 * close the server, then the engine, and exit 0.
 */
export async function serve(
  cli: CliConfig,
  createEngine: EngineFactory,
): Promise<{ app: FastifyInstance; engine: Engine }> {
  // The engine checks decoded images against the limits the server applies to their bytes: one setting each.
  const { maxBytes, maxPixels } = cli.server.images;
  const engine = await createEngine({ ...cli.engine, imageLimits: { maxBytes, maxPixels } });
  const app = buildServer({ engine, config: cli.server });
  const shutdown = async (signal: string) => {
    app.log.info({ signal }, 'shutting down');
    await app.close();
    await engine.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  await app.listen({ host: cli.server.host, port: cli.server.port });
  return { app, engine };
}

/** Runs `main` as the process: a status >= 0 exits with it, -1 keeps serving, a throw exits 1. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => {
      if (code >= 0) process.exit(code);
    },
    (err) => {
      process.stderr.write(`unitok-server: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
