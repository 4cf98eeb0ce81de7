// Command line for the image tokenizer: image -> codes (JSON) and codes -> PNG.
//
//   unitok-image encode    --model DIR IMAGE [--out codes.json]
//   unitok-image decode    --model DIR CODES.json --out image.png
//   unitok-image roundtrip --model DIR IMAGE --out image.png
//
// DIR is a tokenizer export (python3 -m unitok export-tokenizer) or a model bundle; both hold unitok_config.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { ImageInputError } from './image-io.ts';
import { type Codes, CodesError, UniTokTokenizer } from './unitok.ts';

const USAGE = `usage:
  unitok-image encode    --model DIR IMAGE [--out codes.json]   image (png, jpeg, webp, gif) -> codes JSON
  unitok-image decode    --model DIR CODES.json --out out.png    codes JSON -> PNG
  unitok-image roundtrip --model DIR IMAGE --out out.png         image -> codes -> PNG

DIR is a tokenizer export or a model bundle (it holds unitok_config.json).
Codes JSON: {"shape": [K, N], "codes": [[...N codes of codebook 0], ..., [...codebook K-1]]}, tokens row-major.`;

export interface CodesJson {
  model: string;
  shape: [number, number];
  codes: number[][];
}

export function codesToJson(codes: Codes, model: string, index = 0): CodesJson {
  const { numCodebooks: K, numTokens: N } = codes;
  const base = index * K * N;
  const rows = Array.from({ length: K }, (_, k) =>
    Array.from(codes.data.subarray(base + k * N, base + (k + 1) * N)),
  );
  return { model, shape: [K, N], codes: rows };
}

export function codesFromJson(json: unknown): Codes {
  const j = json as Partial<CodesJson>;
  if (!j || !Array.isArray(j.codes) || !j.codes.every((r) => Array.isArray(r))) {
    throw new CodesError('codes JSON must have "codes": an array of K arrays of N integers');
  }
  const K = j.codes.length;
  const N = j.codes[0]?.length ?? 0;
  if (j.codes.some((r) => r.length !== N))
    throw new CodesError('every codebook row in "codes" must have the same length');
  const data = Int32Array.from(j.codes.flat(), (v) => (Number.isInteger(v) ? v : Number.NaN));
  return { data, batch: 1, numCodebooks: K, numTokens: N };
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, input] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (!['encode', 'decode', 'roundtrip'].includes(command) || !input || !values.model) {
    console.error(
      `${!values.model ? 'missing --model DIR' : !input ? 'missing input file' : `unknown command ${command}`}\n\n${USAGE}`,
    );
    return 2;
  }
  if (command !== 'encode' && !values.out) {
    console.error(`${command} needs --out FILE.png\n\n${USAGE}`);
    return 2;
  }
  try {
    const tok = await UniTokTokenizer.load(values.model, {
      graphs: command === 'encode' ? ['encode'] : command === 'decode' ? ['decode'] : ['encode', 'decode'],
    });
    const t0 = performance.now();
    if (command === 'decode') {
      const [png] = await tok.decodeToPng(codesFromJson(JSON.parse(readFileSync(input, 'utf8'))));
      writeFileSync(values.out as string, png);
    } else {
      const codes = await tok.encode([readFileSync(input)]);
      if (command === 'encode') {
        const json = `${JSON.stringify(codesToJson(codes, tok.config.name))}\n`;
        if (values.out) writeFileSync(values.out, json);
        else process.stdout.write(json);
      } else {
        const [png] = await tok.decodeToPng(codes);
        writeFileSync(values.out as string, png);
      }
    }
    console.error(
      `${command}: ${(performance.now() - t0).toFixed(0)} ms${values.out ? ` -> ${values.out}` : ''}`,
    );
    await tok.release();
    return 0;
  } catch (e) {
    if (e instanceof ImageInputError) console.error(`error: bad image (${e.code}): ${e.message}`);
    else if (e instanceof CodesError || e instanceof SyntaxError)
      console.error(`error: bad codes file: ${e.message}`);
    else console.error(`error: ${(e as Error).message}`);
    return 1;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: { model: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
