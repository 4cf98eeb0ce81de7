// open_clip's text cleaning and pre-tokenizer, the parts of the CLIP tokenizer no library does: `clean` is
// whitespace_clean(basic_clean(text)).lower() with ftfy.fix_text replaced by the subset both twins implement
// (unitok/clip_tokenizer.py is the other; docs/clip-tokenizer.md lists what is and is not replicated), and
// html.unescape ported from Python with its own tables (html-entities.generated.ts). `preTokenize` is the
// pattern `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
// (IGNORECASE), alternatives tried in order at each position, as a scanner over code points.
import { HTML5_ENTITIES, INVALID_CHARREFS, INVALID_CODEPOINTS } from './html-entities.generated.ts';

export const SPECIAL_TOKENS = ['<start_of_text>', '<end_of_text>'] as const;

// ---- html.unescape (Python), code point for code point ----------------------------------------------------

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(s: string): string {
  if (s[0] === '#') {
    const hex = s[1] === 'x' || s[1] === 'X';
    const digits = s.slice(hex ? 2 : 1).replace(/;$/, '');
    const num = Number.parseInt(digits, hex ? 16 : 10);
    const fixed = INVALID_CHARREFS[String(num)];
    if (fixed !== undefined) return fixed;
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
    if (INVALID_CODEPOINTS.has(num)) return '';
    return String.fromCodePoint(num);
  }
  const named = HTML5_ENTITIES[s];
  if (named !== undefined) return named;
  // The longest name the reference starts with (legacy entities such as "&amp" need no ';').
  const cps = Array.from(s);
  for (let x = cps.length - 1; x > 1; x--) {
    const value = HTML5_ENTITIES[cps.slice(0, x).join('')];
    if (value !== undefined) return value + cps.slice(x).join('');
  }
  return `&${s}`;
}

export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF, (_m, ref: string) => replaceCharref(ref));
}

// ---- ftfy.fix_text, the subset both twins implement -------------------------------------------------------

const CONTROL = new Set<number>([
  ...range(0x00, 0x09),
  0x0b,
  ...range(0x0e, 0x20),
  0x7f,
  ...range(0x206a, 0x2070),
  0xfeff,
  ...range(0xfff9, 0xfffd),
]);
const ESC = String.fromCharCode(0x1b);
const TERMINAL_ESCAPE = new RegExp(`${ESC}\\[((?:\\p{Nd}|;)*)([a-zA-Z])`, 'gu');
const LIGATURES: Record<string, string> = {
  Ĳ: 'IJ',
  ĳ: 'ij',
  ŉ: 'ʼn',
  Ǳ: 'DZ',
  ǲ: 'Dz',
  ǳ: 'dz',
  Ǆ: 'DŽ',
  ǅ: 'Dž',
  ǆ: 'dž',
  Ǉ: 'LJ',
  ǈ: 'Lj',
  ǉ: 'lj',
  Ǌ: 'NJ',
  ǋ: 'Nj',
  ǌ: 'nj',
  ﬀ: 'ff',
  ﬁ: 'fi',
  ﬂ: 'fl',
  ﬃ: 'ffi',
  ﬄ: 'ffl',
  ﬅ: 'ſt',
  ﬆ: 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'gu');
// Windows-1252's 0x80-0x9F; the five undefined bytes keep their Latin-1 C1 meaning (ftfy's "sloppy" codec).
const CP1252_HIGH = Array.from('€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ');
const SLOPPY_BYTE = new Map(CP1252_HIGH.map((ch, i) => [ch, 0x80 + i]));
const CONT = `[\\x80-\\xbf${CP1252_HIGH.filter((ch) => (ch.codePointAt(0) as number) > 0xff).join('')}]`;
// A UTF-8 multi-byte sequence read as sloppy Windows-1252.
const MOJIBAKE = new RegExp(`[\\xc2-\\xdf]${CONT}|[\\xe0-\\xef]${CONT}{2}|[\\xf0-\\xf4]${CONT}{3}`, 'gu');
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
const C1 = /[\x80-\x9f]/gu;
const WIDE = /[\uff01-\uffee\u3000]/gu;
const SINGLE_QUOTES = /[\u2018\u2019\u201a\u201b]/gu;
const DOUBLE_QUOTES = /[\u201c\u201d\u201e\u201f]/gu;
const LINE_BREAKS = /\r\n|[\r\u2028\u2029\u0085]/gu;
const LONE_SURROGATE = /[\ud800-\udfff]/gu;
const STRICT_ENTITY = /&#?[0-9A-Za-z]{1,24};/gu;

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

function fixMojibake(seq: string): string {
  const bytes = Uint8Array.from(
    Array.from(seq),
    (ch) => SLOPPY_BYTE.get(ch) ?? (ch.codePointAt(0) as number),
  );
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    return seq;
  }
}

/** ftfy.unescape_html: only `&name;` / `&#n;` forms with their ';'; a reference that stays one is left as written. */
function unescapeStrict(text: string): string {
  return text.replace(STRICT_ENTITY, (m) => {
    const out = htmlUnescape(m);
    return out.includes(';') ? m : out;
  });
}

function removeControl(text: string): string {
  let out = '';
  for (const ch of text) if (!CONTROL.has(ch.codePointAt(0) as number)) out += ch;
  return out;
}

/** The part of ftfy.fix_text (6.x defaults) this project replicates, in ftfy's order, repeated until stable. */
export function ftfySubset(input: string): string {
  let text = input;
  for (let i = 0; i < 4; i++) {
    const before = text;
    if (!text.includes('<')) text = unescapeStrict(text); // unescape_html="auto"
    text = text
      .replace(TERMINAL_ESCAPE, '')
      .replace(MOJIBAKE, fixMojibake)
      .replace(C1, (c) => CP1252_HIGH[(c.codePointAt(0) as number) - 0x80])
      .replace(LIGATURE_RE, (c) => LIGATURES[c])
      .replace(WIDE, (c) => c.normalize('NFKC'))
      .replace(SINGLE_QUOTES, "'")
      .replace(DOUBLE_QUOTES, '"')
      .replace(LINE_BREAKS, '\n')
      .replace(LONE_SURROGATE, '\ufffd');
    text = removeControl(text).normalize('NFC');
    if (text === before) break;
  }
  return text;
}

// ---- whitespace, lower case -------------------------------------------------------------------------------

// Python's str.isspace (what `re`'s \s and str.strip() use): not JavaScript's \s, which adds U+FEFF and lacks
// U+001C-U+001F and U+0085.
const SPACE_CHARS =
  '\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000';
const WHITESPACE_RUN = new RegExp(`[${SPACE_CHARS}]+`, 'gu');
const EDGE_SPACE = new RegExp(`^[${SPACE_CHARS}]+|[${SPACE_CHARS}]+$`, 'gu');
const IS_SPACE = new RegExp(`^[${SPACE_CHARS}]$`, 'u');

const strip = (s: string) => s.replace(EDGE_SPACE, '');

/** open_clip's whitespace_clean(basic_clean(text)).lower(), with ftfy replaced by `ftfySubset`. */
export function clean(text: string): string {
  const basic = strip(htmlUnescape(htmlUnescape(ftfySubset(text))));
  return strip(basic.replace(WHITESPACE_RUN, ' ')).toLowerCase();
}

// ---- pre-tokenizer ----------------------------------------------------------------------------------------

const CONTRACTIONS = ['s', 't', 're', 've', 'm', 'll', 'd'];
const LETTER = /^\p{L}$/u;
const NUMBER = /^\p{N}$/u;

type Kind = 'L' | 'N' | ' ' | 'P';
function kind(ch: string): Kind {
  if (IS_SPACE.test(ch)) return ' ';
  if (LETTER.test(ch)) return 'L';
  return NUMBER.test(ch) ? 'N' : 'P';
}

/** IGNORECASE: U+017F LONG S folds to s. */
const fold = (ch: string) => (ch === 'ſ' ? 's' : ch);

/** The pattern's matches in order (whitespace between them skipped). */
export function preTokenize(text: string): string[] {
  const cps = Array.from(text);
  const out: string[] = [];
  const n = cps.length;
  let i = 0;
  scan: while (i < n) {
    for (const special of SPECIAL_TOKENS) {
      if (cps[i] === '<' && cps.slice(i, i + special.length).join('') === special) {
        out.push(special);
        i += special.length;
        continue scan;
      }
    }
    if (cps[i] === "'") {
      for (const c of CONTRACTIONS) {
        const next = cps.slice(i + 1, i + 1 + c.length);
        if (next.map(fold).join('') === c) {
          out.push(`'${next.join('')}`);
          i += 1 + c.length;
          continue scan;
        }
      }
    }
    const k = kind(cps[i]);
    if (k === ' ') {
      i++;
      continue;
    }
    if (k === 'N') {
      out.push(cps[i++]);
      continue;
    }
    let j = i + 1;
    while (j < n && kind(cps[j]) === k) j++;
    out.push(cps.slice(i, j).join(''));
    i = j;
  }
  return out;
}
