// `npm start` (src/main.ts) as a process: serves the demo bundle by default, shuts down on SIGTERM, and exits
// with status 1 and the reason when the model cannot load (no silent fallback from --device webgpu).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';

/** Starts src/main.ts; resolves with the process and its log lines as they come. */
function start(args: string[]): {
  child: ChildProcess;
  lines: string[];
  waitFor: (re: RegExp) => Promise<string>;
} {
  const env = { ...process.env };
  for (const name of ['UNITOK_MODEL', 'UNITOK_MAX_BATCH', 'UNITOK_DEVICE', 'PORT']) delete env[name]; // the built-in defaults
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--port', '0', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let wake = () => {};
  const take = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    wake();
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  const waitFor = async (re: RegExp): Promise<string> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const hit = lines.find((l) => re.test(l));
      if (hit) return hit;
      if (Date.now() > deadline || child.exitCode !== null)
        assert.fail(`no log line ${re}:\n${lines.join('\n')}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 200);
      });
    }
  };
  return { child, lines, waitFor };
}

describe('npm start', () => {
  test('serves the default bundle (models/demo) with 8 slots, answers /health and /v1/models, stops on SIGTERM', async () => {
    const { child, waitFor } = start([]);
    const listening = await waitFor(
      /unitok-server listening on .*model unitok_mllm_demo \(loading\), device cpu/,
    );
    const url = /(http:\/\/[\d.]+:\d+)/.exec(listening)?.[1];
    assert.match(await waitFor(/loading the model/), /models\/demo.*"maxBatch":8/);
    await waitFor(/model ready/);
    assert.equal((await fetch(`${url}/health`)).status, 200);
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
    assert.equal(models.data[0].id, 'unitok_mllm_demo');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });

  test('exits with status 1 and the reason when the model cannot load', async () => {
    const { child, waitFor } = start(['--model', 'models/does-not-exist']);
    assert.match(await waitFor(/the model cannot be loaded from/), /does-not-exist/);
    const [code] = child.exitCode === null ? await once(child, 'exit') : [child.exitCode];
    assert.equal(code, 1);
  });

  test('--device webgpu without an adapter says so and exits 1 instead of falling back to the CPU', async (t) => {
    const { child, lines, waitFor } = start(['--device', 'webgpu']);
    const [code] = await once(child, 'exit');
    if (code === null || lines.some((l) => /model ready/.test(l))) {
      t.skip('this machine has a WebGPU adapter');
      return;
    }
    assert.match(
      await waitFor(/failed to load/),
      /--device webgpu: no usable WebGPU adapter.*does not fall back/,
    );
    assert.equal(code, 1);
  });
});
