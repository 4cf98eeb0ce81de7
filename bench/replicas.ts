// Server processes for the operations benchmarks: start `src/main.ts` of a checkout on a loopback port, wait
// until it is ready, send it signals, and keep its log (the drain report is read from it).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';

export interface ReplicaOptions {
  /** Checkout whose src/main.ts runs (another one to compare against, e.g. main's). */
  root: string;
  port: number;
  model: string;
  args?: string[];
  name: string;
}

export class Replica {
  private child: ChildProcess | null = null;
  log = '';
  startedAt = 0;
  exitedAt = 0;
  exitCode: number | null = null;

  constructor(readonly options: ReplicaOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.options.port}`;
  }

  get running(): boolean {
    return this.child !== null && this.exitedAt === 0;
  }

  /** Starts the process and resolves once /health answers 200 (the model is loaded). */
  async start(timeoutMs = 120_000): Promise<void> {
    const { root, port, model, args = [] } = this.options;
    this.exitedAt = 0;
    this.exitCode = null;
    this.startedAt = performance.now();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', resolve(root, 'src/main.ts'), '--port', String(port), '--model', model, ...args],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stdout?.on('data', (d) => (this.log += d));
    child.stderr?.on('data', (d) => (this.log += d));
    child.once('exit', (code) => {
      this.exitedAt = performance.now();
      this.exitCode = code;
    });
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.exitedAt)
        throw new Error(`${this.options.name} exited (${this.exitCode}): ${this.log.slice(-500)}`);
      try {
        if ((await fetch(`${this.url}/health`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${this.options.name} was not ready in ${timeoutMs} ms`);
  }

  /** Sends `signal`; resolves with the ms until the process exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    const child = this.child;
    if (!child || this.exitedAt) return 0;
    const t0 = performance.now();
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
    return performance.now() - t0;
  }

  /** The last drain report the server logged (lifecycle.ts DrainReport), if any. */
  drainReport(): { inFlight: number; finished: number; ended: number; ms: number } | null {
    const lines = this.log.split('\n').filter((l) => l.includes('"inFlight"'));
    return lines.length > 0 ? JSON.parse(lines[lines.length - 1]) : null;
  }
}
