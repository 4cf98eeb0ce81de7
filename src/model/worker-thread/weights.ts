// The integer sampling weights of docs/bundle.md ("Seeded sampling"): a token whose scaled logit lies `gap`
// units of 2^-16 octave below the best one weighs floor(2^S * 2^(-gap / 65536)), from two 256-entry tables
// (2^-(gap >> 8 & 255) / 256 and 2^-(gap & 255) / 65536) and a power of two. Every step is a float64 product,
// a floor or a table read, and the tables come from a fixed polynomial, not from libm: the Python reference
// (unitok/reference_loop.py) computes the same bits, and a weight costs a few operations (no exp per token).

/** 65536 * log2(e): units of gap per nat of logit (the float64 product 65536 * 1.4426950408889634). */
export const GAP_UNITS_PER_NAT = 94548.4621996991;

/** A candidate's bucket is its gap >> BUCKET_SHIFT (1/64 octave): buckets follow the ranking. */
export const BUCKET_SHIFT = 10;

/**
 * S = min(24, 52 - ceil(log2 vocab)): vocab weights of at most 2^S sum below 2^53, exactly, and a token less
 * likely than 2^-24 of the best one's (float32's precision) weighs nothing. That cap is what lets sampling skip
 * most of a trained model's vocabulary with one comparison a token: on the demo model's text logits, 11800 of
 * 32000 tokens weighed something on average with S = 37 (before the cap), 960 with S = 24 (docs/bundle.md).
 */
export const MAX_WEIGHT_EXPONENT = 24;
export const unitExponent = (vocab: number) =>
  Math.min(MAX_WEIGHT_EXPONENT, 52 - (32 - Math.clz32(Math.max(vocab, 1) - 1)));

/** 2^S, the best token's weight. */
export const weightUnit = (vocab: number) => POW2[unitExponent(vocab)];

/** How many buckets gaps with a nonzero weight fill, for exponent S. */
export const bucketsFor = (S: number) => ((S + 1) << 16) >> BUCKET_SHIFT;

/** 2^0 .. 2^52: exact. */
export const POW2 = Float64Array.from({ length: 53 }, (_, i) => 2 ** i);

/** 2^f = e^(f ln 2): Taylor coefficients (ln 2)^n / n!, n = 0..10 (unitok/reference_loop.py EXP2_TAYLOR). */
export const EXP2_TAYLOR = [
  1.0,
  Math.LN2,
  0.24022650695910072,
  0.05550410866482158,
  0.009618129107628477,
  0.0013333558146428443,
  0.0001540353039338161,
  1.5252733804059841e-5,
  1.321548679014431e-6,
  1.01780860092397e-7,
  7.054911620801123e-9,
];

/** 2^f for f in (-1, 0] (relative error < 5e-10) by Horner's rule: p = c10, then p = c_n + f * p down to c0. */
export function exp2Taylor(f: number): number {
  let p = EXP2_TAYLOR[10];
  for (let n = 9; n >= 0; n--) p = EXP2_TAYLOR[n] + f * p;
  return p;
}

/** HI[a] = 2^(-a / 256), LO[b] = 2^(-b / 65536): exported for loops that inline gapWeight. */
export const HI = Float64Array.from({ length: 256 }, (_, a) => exp2Taylor(-a / 256));
export const LO = Float64Array.from({ length: 256 }, (_, b) => exp2Taylor(-b / 65536));

/** floor(HI[gap >> 8 & 255] * LO[gap & 255] * 2^(S - (gap >> 16))); 0 once gap >= (S + 1) * 65536, or NaN. */
export function gapWeight(gap: number, S: number): number {
  if (!(gap < (S + 1) * 65536)) return 0;
  return Math.floor(HI[(gap >> 8) & 255] * LO[gap & 255] * POW2[S - (gap >> 16)]);
}
