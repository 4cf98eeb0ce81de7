"""Held-out evaluation of a demo run (the PyTorch modules, through the released reference loops).

    python3 -m unitok evaluate --run runs/demo [--recon 256] [--zeroshot 300] [--vqa 60] [--t2i 60] [--out FILE]

Every figure is measured on the world's held-out split (scenes the training never drew):
  reconstruction  encode -> codes -> decode, PSNR of the 8-bit images (mean over images), and the shape oracle on
                  the reconstructions of one-shape scenes (what a drawing could score with a real image's codes);
  zero-shot       CLIP side on one-shape scenes: the image embedding (from the quantised tokens) against the text
                  embeddings (open_clip BPE ids) of world.ZEROSHOT_TEMPLATES; accuracy of the best match;
  VQA             vicuna_v1 prompts with the image part first (where the server places it, whatever the order of
                  the request's parts), questions in the held-out phrasings (language.QUESTIONS["heldout"]), greedy
                  decoding (the released eval settings); exact match of the stripped, lower-cased answer, per kind;
  text -> image   one-shape prompts in the held-out phrasings (language.eval_prompt), the released CFG loop,
                  decoded by the tokenizer and judged by world.judge_single: the named colour must be there,
                  shape-sized, centred in the named cell (`accuracy`); shape and background judged apart;
                  --best-of N draws each prompt N times and judges the drawing the server would return (the one
                  nearest the prompt in CLIP space, `draw`);
  chat            text-only requests of the held-out language split (greetings, capability questions, describe
                  requests, out-of-world requests): exact match of the reply; and the replies to FIVE_PROMPTS.
--dtype int4 evaluates the MLLM with the committed bundle's weights (int4-dequantised, the int8 lm_head's
dequantised, fp16 tables) and fp32 activations; the shipped bundle rounds activations to 8 bits too (MatMulNBits
accuracy level 4, the int8 lm_head), which test/demo-model.test.ts measures through the engine.

Targets of the demo (issue 5): VQA exact match >= 90% on colour and shape questions, text -> image oracle accuracy
>= 80% on one-shape prompts, reconstruction PSNR >= 28 dB.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

import numpy as np
import torch

from ..convert.bundle_config import IMAGE_SAMPLING, TEXT_TO_IMAGE, vqa_prompt
from ..export.tokenizer_onnx import load_released_tokenizer
from ..reference_loop import generate_image, generate_text
from ..text_tokenizer import LlamaTokenizer
from . import language, world
from .common import setup_torch
from .train_mllm import load_hf_folder
from .train_tokenizer import RELEASED_FILE, heldout_psnr

# Held-out scene indices per part, disjoint, so the parts never share a scene.
ZEROSHOT_BASE, VQA_BASE, T2I_BASE, RECON_ORACLE_BASE = 100_000, 200_000, 300_000, 500_000
CORE_KINDS = ("color", "shape")
CHAT_BASE = 400_000  # make-world --chat-first: its sample is a prefix of these requests
# What a new user types first (the examples), reported verbatim in the model card.
FIVE_PROMPTS = ("hello", "What can you do?", "Describe a red circle.", "write a poem about the sea", "a red bicycle")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@torch.no_grad()
def zero_shot(tok, count: int) -> dict:
    scenes = [world.make_scene("heldout", ZEROSHOT_BASE + i, count=1) for i in range(count)]
    imgs = torch.from_numpy(world.to_pixels(np.stack([world.render(s) for s in scenes])))
    img_emb = torch.cat([tok.encode_image(imgs[i:i + 32]) for i in range(0, count, 32)])
    result = {"images": count}
    for name, labels, truth in (
        ("shape", world.SHAPES, [s.shapes[0].shape for s in scenes]),
        ("color", list(world.COLORS), [s.shapes[0].color for s in scenes]),
    ):
        template = world.ZEROSHOT_TEMPLATES[name]
        text = torch.from_numpy(world.clip_tokenize([template.format(x) for x in labels], tok.cfg.text_context_length))
        pred = (img_emb @ tok.encode_text(text).t()).argmax(1)
        result[f"{name}_accuracy"] = float(np.mean([labels[p] == t for p, t in zip(pred.tolist(), truth)]))
    return result


@torch.no_grad()
def reconstruction_oracle(tok, count: int, code_noise: float = 0.0) -> dict:
    """The shape oracle on the tokenizer's own reconstructions of held-out one-shape scenes: the most a drawing
    can score if the MLLM chose exactly the codes of a real image (run 16's tokenizer: 64%, squares and
    triangles read as circles: the decoder rounds their corners). code_noise > 0: each code swapped with that
    probability for another of its codebook's from the same image first (train_tokenizer.perturb_codes), a proxy
    for the near-miss tuples an MLLM samples."""
    from .train_tokenizer import perturb_codes

    hits, seen = [], collections.Counter()
    for i in range(count):
        scene = world.make_scene("heldout", RECON_ORACLE_BASE + i, count=1)
        s = scene.shapes[0]
        codes = tok.img_to_idx(torch.from_numpy(world.to_pixels(world.render(scene)[None])))
        if code_noise:
            codes = perturb_codes(codes, code_noise, torch.Generator().manual_seed(i))
        rec8 = world.from_pixels(tok.idx_to_img(codes))[0]
        verdict = world.judge_single(rec8, s.color, s.position, s.shape)
        hits.append(bool(verdict["shape_ok"]))
        seen[f"{s.shape}->{verdict['shape']}"] += 1
    return {"images": count, "shape_accuracy": float(np.mean(hits)), "read_as": dict(sorted(seen.items())),
            **({"code_noise": code_noise} if code_noise else {})}


def vqa_items(count: int, phrasing: str = "heldout") -> list[tuple[int, str, str, str]]:
    """(scene index, kind, question, answer): every question kind of each held-out scene, one question per kind,
    in the phrasings of language split `phrasing` (the train split's tells what the model sees from what it reads)."""
    items = []
    for i in range(count):
        idx = VQA_BASE + i
        rng = world.scene_rng("heldout", 10**9 + idx)
        by_kind = {}
        for kind, q, a in language.questions(world.make_scene("heldout", idx), rng, phrasing):
            by_kind.setdefault(kind, []).append((q, a))
        for kind, options in sorted(by_kind.items()):
            q, a = options[int(rng.integers(len(options)))]
            items.append((idx, kind, q, a))
    return items


@torch.no_grad()
def vqa(tok, mllm, text_tok: LlamaTokenizer, scenes: int, log_every: int = 50, phrasing: str = "heldout") -> dict:
    items = vqa_items(scenes, phrasing)
    codes_cache, per_kind, wrong = {}, {}, []
    t0 = time.monotonic()
    for n, (idx, kind, q, a) in enumerate(items, 1):
        if idx not in codes_cache:
            img = world.render(world.make_scene("heldout", idx))
            codes_cache[idx] = tok.img_to_idx(torch.from_numpy(world.to_pixels(img[None])))[0]
        ids = text_tok.tokenizer_image_token(vqa_prompt(q))
        out = generate_text(mllm, ids, [codes_cache[idx]], max_new_tokens=48)
        got = text_tok.decode(out.tokens, skip_special_tokens=True).strip().lower()
        ok = got == a
        per_kind.setdefault(kind, []).append(ok)
        if not ok and len(wrong) < 20:
            wrong.append({"question": q, "answer": a, "got": got})
        if n % log_every == 0 or n == len(items):
            _log(f"  vqa {n}/{len(items)} ({time.monotonic() - t0:.0f}s)")
    acc = {k: float(np.mean(v)) for k, v in sorted(per_kind.items())}
    core = [x for k in CORE_KINDS for x in per_kind.get(k, [])]
    return {"questions": len(items), "scenes": scenes, "phrasing": phrasing, "accuracy_by_kind": acc,
            "accuracy_color_shape": float(np.mean(core)) if core else None,
            "accuracy_all": float(np.mean([x for v in per_kind.values() for x in v])), "examples_wrong": wrong}


@torch.no_grad()
def draw(tok, mllm, cond: list[int], uncond: list[int], prompt: str, sampling: dict, seed: int):
    """One drawing as the server makes it (src/model/main-thread/best-of.ts): the released CFG loop with `sampling`
    and `seed`; with sampling["best_of"] = B > 1, B candidates (seeds seed .. seed + B - 1) of which the one whose
    CLIP image embedding, from its codes, is nearest the prompt's CLIP text embedding (the first of equals).
    Returns (codes [K, N], the candidates' scores or None)."""
    best_of = sampling.get("best_of", 1)
    loop = {k: v for k, v in sampling.items() if k != "best_of"}
    gens = [generate_image(mllm, cond, uncond, tok.cfg.num_tokens, seed=seed + j, **loop) for j in range(best_of)]
    if best_of == 1:
        return gens[0].codes, None
    codes = torch.stack([g.codes for g in gens])
    text = tok.encode_text(torch.from_numpy(world.clip_tokenize([prompt], tok.cfg.text_context_length)))
    scores = (tok.encode_image_from_codes(codes) @ text.t())[:, 0]
    return gens[int(scores.argmax())].codes, scores.tolist()


@torch.no_grad()
def text_to_image(tok, mllm, text_tok: LlamaTokenizer, count: int, sampling: dict, seed: int,
                  sheet_path: str | None = None, split: str = "heldout", phrasing: str = "heldout") -> dict:
    """One-shape scenes of `split` (held-out; the train split's unseen scenes to choose sampling settings on),
    prompted in the phrasings of language split `phrasing`, drawn with `sampling` (cfg_scale, temperature, top_k,
    top_p, best_of) as one request each, request i seeded seed + i * best_of, and judged by the oracle."""
    uncond = text_tok.encode(TEXT_TO_IMAGE["unconditional"], add_bos=True) + [mllm.cfg.boi_token_id]
    best_of = sampling.get("best_of", 1)
    results, images, t0 = [], [], time.monotonic()
    for i in range(count):
        scene = world.make_scene(split, T2I_BASE + i, count=1)
        s = scene.shapes[0]
        prompt = language.eval_prompt(scene, T2I_BASE + i, phrasing)
        cond = text_tok.encode(prompt + TEXT_TO_IMAGE["suffix"], add_bos=True) + [mllm.cfg.boi_token_id]
        codes, _ = draw(tok, mllm, cond, uncond, prompt, sampling, seed + i * best_of)
        img8 = world.from_pixels(tok.idx_to_img(codes[None]))[0]
        verdict = world.judge_single(img8, s.color, s.position, s.shape, scene.background)
        results.append({"prompt": prompt, **{k: verdict[k] for k in ("ok", "color_ok", "position_ok", "shape_ok",
                                                                    "background_ok", "found", "shape")},
                        "drawn_background": verdict["background"], "shape_color": s.color})
        images.append(img8)
        if (i + 1) % 10 == 0 or i + 1 == count:
            _log(f"  t2i {i + 1}/{count} ({time.monotonic() - t0:.0f}s) ok so far "
                 f"{np.mean([r['ok'] for r in results]):.2f}")
    if sheet_path:
        _save_sheet(images, sheet_path)
    drawn = collections.Counter(r["drawn_background"] for r in results)
    return {"prompts": count, "split": split, "phrasing": phrasing, "settings": {**sampling, "seed": seed},
            "accuracy": float(np.mean([r["ok"] for r in results])),
            "color_accuracy": float(np.mean([r["color_ok"] for r in results])),
            "position_accuracy": float(np.mean([r["position_ok"] for r in results])),
            "shape_accuracy": float(np.mean([bool(r["shape_ok"]) for r in results])),
            "background_accuracy": float(np.mean([bool(r["background_ok"]) for r in results])),
            # A background drawn in the shape's own colour, and which backgrounds come out whatever is asked.
            "background_is_shape_color": float(np.mean([r["drawn_background"] == r["shape_color"] for r in results])),
            "drawn_backgrounds": dict(drawn.most_common()),
            "seconds_per_image": (time.monotonic() - t0) / max(count, 1),
            "examples_wrong": [r for r in results if not r["ok"]][:10]}


@torch.no_grad()
def chat(mllm, text_tok: LlamaTokenizer, count: int) -> dict:
    """Text-only chat: `count` held-out requests (exact reply, per kind), then the replies to FIVE_PROMPTS."""
    def reply(request: str) -> str:
        ids = text_tok.tokenizer_image_token(vqa_prompt(request, with_image=False))
        return text_tok.decode(generate_text(mllm, ids, [], max_new_tokens=96).tokens, skip_special_tokens=True).strip()

    per_kind, wrong = {}, []
    for i in range(count):
        kind, request, want = language.text_chat(world.scene_rng("heldout", CHAT_BASE + i), "heldout")
        got = reply(request)
        per_kind.setdefault(kind, []).append(got == want)
        if got != want and len(wrong) < 10:
            wrong.append({"request": request, "reply": want, "got": got})
    return {"requests": count, "accuracy_by_kind": {k: float(np.mean(v)) for k, v in sorted(per_kind.items())},
            "accuracy_all": float(np.mean([x for v in per_kind.values() for x in v])) if count else None,
            "examples_wrong": wrong, "five_prompts": {p: reply(p) for p in FIVE_PROMPTS}}


def _save_sheet(images: list[np.ndarray], path: str, columns: int = 8) -> None:
    from PIL import Image

    rows = -(-len(images) // columns)
    size = images[0].shape[0]
    sheet = np.full((rows * size, columns * size, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * size:(r + 1) * size, c * size:(c + 1) * size] = img
    Image.fromarray(sheet).save(path)


def evaluate(run: str, recon: int, zeroshot: int, vqa_scenes: int, t2i: int, sampling: dict, seed: int,
             sheet: str | None = None, dtype: str = "fp32", t2i_split: str = "heldout", chats: int = 0,
             vqa_phrasing: str = "heldout", t2i_phrasing: str = "heldout", recon_noise: float = 0.0) -> dict:
    tok, _ = load_released_tokenizer(os.path.join(run, RELEASED_FILE), "demo")
    report = {"split": "heldout", "mllm_weights": dtype}
    if recon:
        _log(f"reconstruction on {recon} held-out images ...")
        report["reconstruction"] = heldout_psnr(tok, recon, torch.device("cpu"))
        report["reconstruction"]["shape_oracle"] = reconstruction_oracle(tok, min(recon, 120))
        if recon_noise:
            report["reconstruction"]["shape_oracle_noisy"] = reconstruction_oracle(tok, min(recon, 120), recon_noise)
    if zeroshot:
        _log(f"zero-shot on {zeroshot} held-out one-shape images ...")
        report["zero_shot"] = zero_shot(tok, zeroshot)
    if vqa_scenes or t2i or chats:
        mllm = load_hf_folder(os.path.join(run, "mllm"))
        if dtype != "fp32":  # what the bundle's graphs compute: int4-dequantised Linears, fp16-rounded tables
            from ..convert.loop_fixtures import bundle_equivalent
            from .common import LM_HEAD_BITS

            mllm = bundle_equivalent(mllm, dtype, LM_HEAD_BITS)
        text_tok = LlamaTokenizer.load()
        if vqa_scenes:
            _log(f"VQA on {vqa_scenes} held-out scenes, {vqa_phrasing} phrasings ...")
            report["vqa"] = vqa(tok, mllm, text_tok, vqa_scenes, phrasing=vqa_phrasing)
        if chats:
            _log(f"text-only chat on {chats} held-out requests ...")
            report["chat"] = chat(mllm, text_tok, chats)
        if t2i:
            _log(f"text -> image on {t2i} {t2i_split} one-shape scenes, {t2i_phrasing} phrasings ...")
            report["text_to_image"] = text_to_image(tok, mllm, text_tok, t2i, sampling, seed, sheet, t2i_split,
                                                    t2i_phrasing)
    return report


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/demo", help="run folder (unitok_tokenizer.pth and mllm/)")
    ap.add_argument("--recon", type=int, default=256, help="held-out images for PSNR (0 skips)")
    ap.add_argument("--recon-noise", type=float, default=0.0,
                    help="also the shape oracle on reconstructions from codes perturbed with this probability "
                         "(reconstruction_oracle; 0 skips)")
    ap.add_argument("--zeroshot", type=int, default=300, help="held-out one-shape images for zero-shot (0 skips)")
    ap.add_argument("--vqa", type=int, default=60, help="held-out scenes; every question kind is asked (0 skips)")
    ap.add_argument("--t2i", type=int, default=60, help="held-out one-shape prompts (0 skips)")
    ap.add_argument("--chat", type=int, default=60, help="held-out text-only requests (0 skips)")
    ap.add_argument("--cfg-scale", type=float, default=IMAGE_SAMPLING["cfg_scale"])
    ap.add_argument("--temperature", type=float, default=IMAGE_SAMPLING["temperature"])
    ap.add_argument("--top-k", type=int, default=IMAGE_SAMPLING["top_k"])
    ap.add_argument("--top-p", type=float, default=IMAGE_SAMPLING["top_p"])
    ap.add_argument("--best-of", type=int, default=IMAGE_SAMPLING.get("best_of", 1),
                    help="drawings per prompt, of which the one nearest the prompt in CLIP space counts (the "
                         "server's best_of)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--t2i-split", default="heldout", choices=list(world.SPLIT_SEEDS),
                    help="prompts' split: held-out to report; train (scenes outside the training pool) to choose "
                         "sampling settings without looking at the held-out ones")
    ap.add_argument("--vqa-phrasing", default="heldout", choices=list(world.SPLIT_SEEDS),
                    help="language split of the VQA questions (the scenes stay held-out): held-out to report; train "
                         "to tell what the model fails to see from the phrasings it fails to read")
    ap.add_argument("--t2i-phrasing", default="heldout", choices=list(world.SPLIT_SEEDS),
                    help="language split of the image prompts: held-out to report; train to tell what the model "
                         "fails to draw from the phrasings it fails to read")
    ap.add_argument("--sheet", help="also save the generated images as one PNG")
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "int4"),
                    help="MLLM weights as trained (fp32) or as the int4 bundle stores them (int4, fp32 activations)")
    ap.add_argument("--out", help="write the report JSON here (default: print only)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    setup_torch(args.threads)
    sampling = dict(cfg_scale=args.cfg_scale, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    if args.best_of != 1:
        sampling["best_of"] = args.best_of
    report = evaluate(args.run, args.recon, args.zeroshot, args.vqa, args.t2i, sampling, args.seed, args.sheet,
                      args.dtype, args.t2i_split, args.chat, vqa_phrasing=args.vqa_phrasing,
                      t2i_phrasing=args.t2i_phrasing, recon_noise=args.recon_noise)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0
