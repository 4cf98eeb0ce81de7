// Config: CLI flags, their environment variables, precedence, validation, --help; and the real CLI process.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { helpText, parseCli } from '../src/server/cli-options.ts';
import { ConfigError, DEFAULT_CONFIG, DEFAULT_ENGINE_OPTIONS, resolveConfig } from '../src/server/config.ts';

describe('parseCli', { timeout: 30_000 }, () => {
  test('defaults', () => {
    const cli = parseCli([], {});
    assert.deepEqual(cli.server, DEFAULT_CONFIG);
    assert.deepEqual(cli.engine, DEFAULT_ENGINE_OPTIONS);
    assert.equal(cli.help, false);
  });

  test('flags set every knob', () => {
    const cli = parseCli(
      [
        '--model=/models/unitok',
        '--device',
        'cuda',
        '--max-queue',
        '3',
        '--max-batch',
        '2',
        '--runners',
        '2',
        '--host',
        '0.0.0.0',
        '--port',
        '9000',
        '--api-key',
        'a, b',
        '--served-model-name',
        'unitok',
        '--body-limit-mb',
        '1.5',
        '--max-image-mb',
        '2',
        '--max-images',
        '1',
        '--max-image-pixels',
        '1000',
        '--allowed-image-hosts',
        'img.example.org,*.cdn.example.org',
        '--image-fetch-timeout-ms',
        '250',
        '--preview-every',
        '0',
        '--sse-ping-seconds',
        '2.5',
        '--request-timeout-seconds',
        '0',
        '--log-level',
        'warn',
        '--shutdown-timeout-seconds',
        '45',
        '--cors-origins',
        'https://app.example.org, https://b.example.org',
        '--body-timeout-seconds',
        '5',
        '--headers-timeout-seconds',
        '2',
        '--keep-alive-seconds',
        '90',
        '--max-requests-per-connection',
        '100',
        '--max-connections',
        '50',
        '--ws-max-message-mb',
        '1',
        '--engine-module',
        'x/engine.ts',
      ],
      {},
    );
    assert.deepEqual(cli.engine, {
      model: '/models/unitok',
      device: 'cuda',
      maxQueue: 3,
      maxBatch: 2,
      runners: 2,
    });
    assert.equal(cli.engineModule, 'x/engine.ts');
    assert.deepEqual(cli.server, {
      host: '0.0.0.0',
      port: 9000,
      apiKeys: ['a', 'b'],
      servedModelName: 'unitok',
      bodyLimitBytes: 1.5 * 1024 * 1024,
      images: {
        maxBytes: 2 * 1024 * 1024,
        maxPerRequest: 1,
        maxPixels: 1000,
        allowedHosts: ['img.example.org', '*.cdn.example.org'],
        fetchTimeoutMs: 250,
      },
      previewEvery: 0,
      sseKeepAliveMs: 2500,
      requestTimeoutMs: 0,
      logLevel: 'warn',
      limits: {
        requestReceiveTimeoutMs: 5000,
        headersTimeoutMs: 2000,
        keepAliveTimeoutMs: 90_000,
        maxRequestsPerConnection: 100,
        maxConnections: 50,
        wsMaxMessageBytes: 1024 * 1024,
      },
      shutdownTimeoutMs: 45_000,
      corsOrigins: ['https://app.example.org', 'https://b.example.org'],
    });
    assert.deepEqual(parseCli([], { UNITOK_CORS_ORIGINS: ',' }).server.corsOrigins, [], "',' turns CORS off");
  });

  test('environment variables (PORT and HOST included), with flags winning', () => {
    const env = {
      PORT: '7000',
      HOST: '::',
      UNITOK_API_KEY: 'k',
      UNITOK_DEVICE: 'webgpu',
      UNITOK_MAX_IMAGES: '0',
    };
    const cli = parseCli(['--port', '7001'], env);
    assert.equal(cli.server.port, 7001);
    assert.equal(cli.server.host, '::');
    assert.deepEqual(cli.server.apiKeys, ['k']);
    assert.equal(cli.engine.device, 'webgpu');
    assert.equal(cli.server.images.maxPerRequest, 0);
    assert.equal(parseCli([], { PORT: '' }).server.port, 8000, 'an empty variable is unset');
  });

  test('invalid values name the flag or variable', () => {
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['--port', 'abc'], {}, /--port: expected an integer in 0\.\.65535, got 'abc'/],
      [[], { PORT: '70000' }, /PORT: expected an integer/],
      [['--device', 'tpu'], {}, /--device: expected one of cpu, webgpu, cuda, got 'tpu'/],
      [['--max-batch', '0'], {}, /--max-batch: expected an integer in 1\.\./],
      [[], { UNITOK_RUNNERS: '0' }, /UNITOK_RUNNERS: expected an integer in 1\.\./],
      [['--body-limit-mb', 'lots'], {}, /--body-limit-mb: expected a number/],
      [['--log-level', 'loud'], {}, /--log-level/],
      [['--nope'], {}, /Unknown option '--nope'; see --help/],
      [['stray'], {}, /positional/],
    ];
    for (const [argv, env, message] of cases)
      assert.throws(
        () => parseCli(argv, env),
        (err: Error) => err instanceof ConfigError && message.test(err.message),
      );
  });

  test('--help lists every flag with its environment variable', () => {
    assert.equal(parseCli(['-h'], {}).help, true);
    const help = helpText();
    for (const [flag, env] of [
      ['--model', 'UNITOK_MODEL'],
      ['--device', 'UNITOK_DEVICE'],
      ['--port', 'PORT'],
      ['--host', 'HOST'],
      ['--api-key', 'UNITOK_API_KEY'],
      ['--max-queue', 'UNITOK_MAX_QUEUE'],
      ['--max-batch', 'UNITOK_MAX_BATCH'],
      ['--runners', 'UNITOK_RUNNERS'],
      ['--allowed-image-hosts', 'UNITOK_ALLOWED_IMAGE_HOSTS'],
      ['--preview-every', 'UNITOK_PREVIEW_EVERY'],
    ]) {
      assert.match(help, new RegExp(`^  ${flag} .*\\[${env}\\]$`, 'm'));
    }
  });

  test('resolveConfig merges partial image limits over the defaults', () => {
    const config = resolveConfig({ port: 1, images: { maxPerRequest: 9 } });
    assert.equal(config.port, 1);
    assert.equal(config.images.maxPerRequest, 9);
    assert.equal(config.images.maxBytes, DEFAULT_CONFIG.images.maxBytes);
  });
});

describe('the CLI process', { timeout: 30_000 }, () => {
  const cli = fileURLToPath(new URL('../src/server/cli.ts', import.meta.url));
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
      env: { ...process.env, ...env },
      stdio: 'pipe',
    });
  const output = async (child: ChildProcess) => {
    let text = '';
    child.stdout?.on('data', (d) => (text += d));
    child.stderr?.on('data', (d) => (text += d));
    const [code] = await once(child, 'exit');
    return { code: code as number, text };
  };

  test('--help exits 0; a bad flag exits 2 with the reason', async () => {
    const help = await output(run(['--help']));
    assert.equal(help.code, 0);
    assert.match(help.text, /^Usage: unitok-server/);
    const bad = await output(run([], { PORT: 'x' }));
    assert.equal(bad.code, 2);
    assert.match(bad.text, /PORT: expected an integer/);
  });

  test('serves with an engine module, answers /health, and exits cleanly on SIGTERM', {
    timeout: 20_000,
  }, async () => {
    const child = run([
      '--engine-module',
      'test/helpers/fake-engine-module.ts',
      '--port',
      '0',
      '--log-level',
      'info',
    ]);
    const exited = output(child);
    let logs = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (d) => {
        logs += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(logs);
        if (m) resolve(m[1]);
      });
      child.once('exit', () => reject(new Error(`exited early: ${logs}`)));
    });
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    child.kill('SIGTERM');
    assert.equal((await exited).code, 0);
  });
});
