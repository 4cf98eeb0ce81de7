// The seeded part of sampling that both threads need: the sampling settings a step carries, and the mulberry32
// generator whose state the scheduler (main thread) predicts and the runner (worker) advances. One draw per
// sampled token or code, none when greedy (docs/bundle.md, "Seeded sampling").

/** temperature 0 = greedy; topK 0 and topP 1 disable those filters. */
export interface SamplingSpec {
  temperature: number;
  topK: number;
  topP: number;
}

/** mulberry32 on a uint32 state: the one seeded generator of the spec (state = seed mod 2^32). */
export class Mulberry32 {
  state: number;

  constructor(seed: number) {
    this.state = seed >>> 0; // ToUint32 is exactly "mod 2^32" for any integer, negative ones included
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    const s = this.state;
    let t = Math.imul(s ^ (s >>> 15), s | 1) >>> 0;
    t = (t ^ ((t + Math.imul(t ^ (t >>> 7), t | 61)) >>> 0)) >>> 0;
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform double in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }
}

/** mulberry32's state after `n` more draws: each draw adds the same constant, so a state can be predicted. */
export function skipDraws(state: number, n: number): number {
  return (state + Math.imul(n, 0x6d2b79f5)) >>> 0;
}

/** Draws one sampled token (or code) takes: exactly one, none when greedy. */
export function drawsPerToken(spec: SamplingSpec): number {
  return spec.temperature > 0 ? 1 : 0;
}

/** A fresh random uint32 seed for requests that did not ask for one. */
export function randomSeed(): number {
  return (Math.random() * 4294967296) >>> 0;
}
