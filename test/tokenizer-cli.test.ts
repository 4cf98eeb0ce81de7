// The documented command-line way to tokenize an image to codes and render codes back to PNG.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';

import { fixturesDir } from './helpers/tensors.ts';

const BIN = join(process.cwd(), 'bin', 'unitok-image.mjs');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('encode -> codes JSON -> decode -> PNG, and clear errors', async () => {
  const model = fixturesDir('tokenizer', 'graphs');
  const config = JSON.parse(readFileSync(join(model, 'unitok_config.json'), 'utf8')).config;
  const dir = mkdtempSync(join(tmpdir(), 'unitok-cli-'));
  const image = join(dir, 'in.webp');
  await sharp({ create: { width: 70, height: 50, channels: 3, background: '#c03020' } })
    .webp()
    .toFile(image);

  const enc = cli('encode', '--model', model, image);
  assert.equal(enc.code, 0, enc.stderr);
  const json = JSON.parse(enc.stdout);
  assert.deepEqual(json.shape, [config.num_codebooks, config.num_tokens]);
  assert.equal(json.codes.flat().length, config.num_codebooks * config.num_tokens);

  const codesFile = join(dir, 'codes.json');
  writeFileSync(codesFile, enc.stdout);
  const out = join(dir, 'out.png');
  const dec = cli('decode', '--model', model, codesFile, '--out', out);
  assert.equal(dec.code, 0, dec.stderr);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', config.img_size, config.img_size]);

  const bad = cli('encode', '--model', model, codesFile);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /bad image \(corrupt\)/);

  json.codes[0][0] = config.codebook_size + 5;
  writeFileSync(codesFile, JSON.stringify(json));
  const range = cli('decode', '--model', model, codesFile, '--out', out);
  assert.equal(range.code, 1);
  assert.match(range.stderr, /bad codes file: code \d+ at codebook 0, token 0 is outside/);

  const usage = cli('decode', '--model', model);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /missing input file/);
});
