// Zero-shot accuracy of a model on its world's held-out one-shape scenes, through POST
// /v1/zero-shot-image-classification on the real server (the figure `python3 -m unitok evaluate` reports from
// PyTorch as "zero-shot" in MODEL_CARD.md).
//
//   node --import tsx bench/zero-shot.ts [--model models/demo] [--count 300]
//
// The scenes are the ones `evaluate` uses (world.make_scene("heldout", 100000 + i, count=1)), rendered by the
// Python toolkit into a temp folder; labels and templates are evaluate's: "a {}" over the shapes, "a {} object"
// over the colours. Prints accuracy per kind and the request latency.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEngine } from '../src/model/main-thread/engine.ts';
import { buildServer } from '../src/server/app.ts';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'models/demo' }, count: { type: 'string', default: '300' } },
});
const count = Number(values.count);
const dir = mkdtempSync(join(tmpdir(), 'unitok-zero-shot-'));
const python = process.env.PYTHON ?? '/usr/bin/python3';
const script = `
import json, sys
from PIL import Image
from unitok.demo import world
from unitok.demo.evaluate import ZEROSHOT_BASE
out, n = sys.argv[1], int(sys.argv[2])
scenes = []
for i in range(n):
    s = world.make_scene("heldout", ZEROSHOT_BASE + i, count=1)
    Image.fromarray(world.render(s)).save(f"{out}/{i}.png")
    scenes.append({"shape": s.shapes[0].shape, "color": s.shapes[0].color})
json.dump({"scenes": scenes, "shape": list(world.SHAPES), "color": list(world.COLORS)}, open(f"{out}/truth.json", "w"))
`;
const made = spawnSync(python, ['-c', script, dir, String(count)], { stdio: 'inherit' });
if (made.status !== 0) throw new Error('rendering the held-out scenes failed');
const truth = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as {
  scenes: { shape: string; color: string }[];
  shape: string[];
  color: string[];
};

const engine = await startEngine({ model: values.model, device: 'cpu', maxQueue: 64, maxBatch: 2 });
await engine.loaded;
if (engine.info().status !== 'ready') throw new Error(engine.info().statusMessage);
const app = buildServer({ engine, logger: false });
await app.ready();

const rows: string[][] = [];
for (const [kind, template] of [
  ['color', 'a {} object'],
  ['shape', 'a {}'],
] as const) {
  let hits = 0;
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const image = `data:image/png;base64,${readFileSync(join(dir, `${i}.png`)).toString('base64')}`;
    const t0 = performance.now();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/zero-shot-image-classification',
      payload: { image, candidate_labels: truth[kind], hypothesis_template: template },
    });
    times.push(performance.now() - t0);
    if (res.statusCode !== 200) throw new Error(res.body);
    if (res.json().data[0].label === truth.scenes[i][kind]) hits++;
  }
  times.sort((a, b) => a - b);
  rows.push([
    kind,
    template,
    String(truth[kind].length),
    String(count),
    `${((100 * hits) / count).toFixed(1)}%`,
    times[Math.floor(count / 2)].toFixed(1),
  ]);
}
await app.close();
await engine.close();
rmSync(dir, { recursive: true, force: true });

const head = ['kind', 'template', 'labels', 'images', 'accuracy', 'median ms / request'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(`${values.model}, held-out one-shape scenes ${100000}..${100000 + count - 1}:`);
console.log(
  [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n'),
);
