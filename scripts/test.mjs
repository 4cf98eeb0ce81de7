#!/usr/bin/env node
// The whole test suite in one command (`npm test`):
//   0. the Debian packages the suite needs (scripts/system-packages.mjs) are checked, and installed when missing
//      (as root with apt-get; otherwise it stops with the command to run);
//   1. the Python toolkit writes the cross-language fixtures (seeded inputs, PyTorch outputs, ONNX graphs);
//   2. pytest runs the Python tests;
//   3. the TypeScript is type-checked (tsc) and linted (biome);
//   4. node's test runner runs every test/**/*.test.ts through tsx.
// `--only python` or `--only ts` runs one side (ts still needs the fixtures, made if missing).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSystemPackages } from './system-packages.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const python = process.env.PYTHON ?? '/usr/bin/python3';
const fixtures = join(root, 'build', 'fixtures');
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

function run(cmd, argv, env = {}) {
  console.log(`\n$ ${[cmd, ...argv].join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'python' && name !== 'node_modules') out.push(...findTests(p));
    } else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

ensureSystemPackages({
  python,
  pythonSide: only !== 'ts' || !existsSync(join(fixtures, 'DONE')),
  browserSide: only !== 'python',
});

let failed = 0;
if (only !== 'ts' || !existsSync(join(fixtures, 'DONE'))) {
  const rc = run(python, ['-m', 'unitok', 'fixtures', '--out', fixtures]);
  if (rc !== 0) {
    console.error('fixture generation failed');
    process.exit(rc);
  }
}
if (only !== 'ts') {
  failed += run(python, ['-m', 'pytest', '-q', 'test/python'], { UNITOK_FIXTURES: fixtures }) !== 0 ? 1 : 0;
}
if (only !== 'python') {
  const bin = (name) => join(root, 'node_modules', '.bin', name);
  failed += run(bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']) !== 0 ? 1 : 0;
  failed += run(bin('biome'), ['check', '.']) !== 0 ? 1 : 0;
  const files = findTests(join(root, 'test'));
  failed +=
    run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
      UNITOK_FIXTURES: fixtures,
    }) !== 0
      ? 1
      : 0;
}
process.exit(failed ? 1 : 0);
