"""Stage 1 of the demo model: train the UniTok tokenizer ('demo' preset) on the shapes world, from scratch.

    python3 -m unitok train-tokenizer --out runs/demo [--steps 3000] [--minutes 24] [--batch 16]

Losses, as UniTok trains (minus the perceptual and GAN terms, which need pretrained networks):
  reconstruction  MSE + L1 between the decoded image and the input, in [-1, 1], with pixels of the shapes weighted
                  FG_WEIGHT times the background's (see foreground_weights);
  VQ              per codebook, codebook loss ||sg(z) - q||^2 + beta ||z - sg(q)||^2 (beta 0.25) on the L2-normalised
                  8-d chunks, with the straight-through estimator carrying the decoder's gradient to the encoder;
  contrastive     symmetric InfoNCE between the CLIP image embedding (built from the quantised tokens, as
                  UniTok.encode_image) and the text tower's embedding of a caption, with the learned logit scale
                  (clamped to ln 100); captions that are the same string count as positives of each other.
The first --vq-start steps train a plain autoencoder (no quantisation); the codebooks are then seeded from the
encoder's latents, and entries unused for `--restart-every` steps are re-seeded from latents the codebook fits worst
(dead-code restart), so the small 256-entry codebooks cover the shapes and not only the backgrounds.

Writes to --out: tokenizer_train.pt (resumable training state; re-running the command resumes from it),
unitok_tokenizer.pth (released layout, what the converter reads) and tokenizer_metrics.json (held-out PSNR).
--minutes stops early (checkpointed) when the wall-clock budget is spent; the LR decays over whichever of --steps and
--minutes is further along. The defaults are models/demo's stage 1 (24 minutes on the 2-core CPU).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from ..config import get_tokenizer_config
from ..export.tokenizer_onnx import load_released_tokenizer, save_released_tokenizer
from ..modules.unitok import UniTok
from ..clip_tokenizer import VOCAB_SIZE as CLIP_VOCAB_SIZE
from . import language, world
from .common import (RunningMean, StepProgress, add_run_args, load_checkpoint, lr_at, resume, save_checkpoint,
                     setup_torch)

BETA = 0.25
# The paper's lambda_contra is 1. On the demo tokenizer 1 cost ~3 dB of training PSNR by step 500 (21.7 dB vs
# 24.9 dB with 0.1) for the same contrastive loss (1.62 vs 1.67) and no shape on the CLIP side either way
# (held-out zero-shot shape 34% vs 32%, chance 33%), so the demo keeps 0.1.
CLIP_WEIGHT = 0.1
# Run 11: with the contrastive loss alone, the CLIP side read shape at chance (zero-shot 32%): a batch of 16
# captions is told apart by colour, so shape never had to reach the pooled embedding. The label loss asks it
# directly: each one-shape scene's embedding must pick its shape and colour among the zero-shot templates' texts.
LABEL_WEIGHT = 0.5
FG_WEIGHT = 8.0
# Run 17: with pixels near colour edges weighted 16x from the first step, the tokenizer's own reconstructions pass
# the drawing oracle 87.5% of the time (run 12's: 67%, corners rounded) and PSNR rose 28.2 -> 31.9 dB.
EDGE_WEIGHT = 16.0
# Session 15: a flat background patch gets 70-208 distinct 8-code tuples per colour (the encoder's attention mixes
# the whole image into every patch's latent), so the MLLM's first visual token, which fixes the background, must
# choose among hundreds of tuples that mean the same thing. --locality-weight pulls the latents of flat patches of
# one colour together (their variance), so that such a patch has few tuples whatever the rest of the image holds.
LOCALITY_WEIGHT = 0.0
STATE_FILE = "tokenizer_train.pt"
RELEASED_FILE = "unitok_tokenizer.pth"


def batch_for_step(step: int, batch: int) -> tuple[np.ndarray, list[str], list]:
    """The step's training scenes (train split, consecutive indices): uint8 images, one caption each, the scenes."""
    images, texts, scenes = [], [], []
    for i in range(step * batch, (step + 1) * batch):
        scene = world.make_scene("train", i)
        images.append(world.render(scene))
        texts.append(language.clip_text(scene, world.scene_rng("train", 10**9 + i)))
        scenes.append(scene)
    return np.stack(images), texts, scenes


def quantize_train(model: UniTok, z: torch.Tensor, quantize: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training forward of the multi-codebook quantiser: (straight-through features [B,N,W], codes [B,K,N],
    VQ loss, normalised latent chunks [K,B,N,d] for dead-code restarts). Same code choice as f_to_idx.
    quantize=False (warm-up) passes the normalised latents through unquantised and gives no VQ loss."""
    outs, codes, chunks, loss = [], [], [], 0.0
    for cb, c in zip(model.quantizer.codebooks, z.chunk(model.cfg.num_codebooks, dim=-1)):
        c = F.normalize(c, dim=-1)
        w = cb.codebook.get_norm_weight()
        idx = (c.detach() @ w.t()).argmax(-1)
        q = F.embedding(idx, w)
        loss = loss + F.mse_loss(q, c.detach()) + BETA * F.mse_loss(c, q.detach())
        outs.append(c + (q - c).detach() if quantize else c)
        codes.append(idx)
        chunks.append(c.detach())
    return torch.cat(outs, -1), torch.stack(codes, 1), (loss if quantize else 0 * loss) / len(outs), torch.stack(chunks)


def foreground_weights(imgs: np.ndarray, scenes_bg: list[str], edge_weight: float = 0.0) -> torch.Tensor:
    """Per-pixel loss weights [B,1,H,W]: FG_WEIGHT on pixels that differ from the scene's background colour, 1
    elsewhere. Shapes are a few percent of the pixels; unweighted, the tokenizer first learns backgrounds only
    and its codebooks collapse onto them. edge_weight > 0 adds that weight on a band of EDGE_BAND pixels either
    side of every colour edge (a shape's outline, and where shapes meet): corners and points are a handful of
    pixels, which the weighted mean otherwise lets the decoder round off."""
    bg = np.asarray([world.BACKGROUNDS[b] for b in scenes_bg], np.int16)[:, None, None, :]
    fg = (np.abs(imgs.astype(np.int16) - bg).max(-1) > 8).astype(np.float32)
    weight = 1.0 + (FG_WEIGHT - 1.0) * fg
    if edge_weight > 0:
        weight = weight + edge_weight * edge_band(imgs)
    return torch.from_numpy(weight.astype(np.float32))[:, None]


EDGE_BAND = 2


def edge_band(imgs: np.ndarray) -> np.ndarray:
    """[B,H,W] 1.0 within EDGE_BAND pixels (Chebyshev distance) of a pixel whose right or lower neighbour has
    another colour (the first pixel of each differing pair), else 0."""
    x = imgs.astype(np.int16)
    edge = np.zeros(x.shape[:3], bool)
    edge[:, :, :-1] |= np.abs(x[:, :, 1:] - x[:, :, :-1]).max(-1) > 8
    edge[:, :-1, :] |= np.abs(x[:, 1:] - x[:, :-1]).max(-1) > 8
    band = edge.copy()
    for _ in range(EDGE_BAND):  # dilate by one pixel in the 8 directions
        grown = band.copy()
        grown[:, 1:] |= band[:, :-1]
        grown[:, :-1] |= band[:, 1:]
        grown[:, :, 1:] |= grown[:, :, :-1]
        grown[:, :, :-1] |= grown[:, :, 1:]
        band = grown
    return band.astype(np.float32)


def image_embedding(model: UniTok, feats: torch.Tensor) -> torch.Tensor:
    """UniTok.encode_image's head on post_quant_proj features [B, N, W]: normalised [B, embed_dim]."""
    return F.normalize(model.projection(model.fc_norm(feats.mean(dim=1))), dim=-1)


def label_loss(model: UniTok, img: torch.Tensor, scenes: list, device, train_text: bool = False) -> torch.Tensor:
    """Cross-entropy of each one-shape scene's image embedding [B, D] over the zero-shot templates' texts, for its
    shape and for its colour (0 when the batch has no one-shape scene).

    The tokenizer's training detaches the text side (train_text False): trained on both sides from the start, it
    made the templates' texts alike and held the contrastive loss at chance too (run 12's first 535 steps). It still
    teaches no shape: the text tower gives the three shape templates one embedding, so that gradient is zero
    (docs/demo-training.md, run 12). finetune_clip trains the text side on it as well (train_text True)."""
    single = [i for i, s in enumerate(scenes) if len(s.shapes) == 1]
    if not single:
        return img.sum() * 0
    scale = model.logit_scale.clamp(0, math.log(100)).exp().detach()
    loss = 0.0
    for attr, labels in (("shape", world.SHAPES), ("color", list(world.COLORS))):
        template = world.ZEROSHOT_TEMPLATES[attr]
        tokens = torch.from_numpy(world.clip_tokenize([template.format(x) for x in labels],
                                                      model.cfg.text_context_length)).to(device)
        with torch.enable_grad() if train_text else torch.no_grad():
            txt = model.encode_text(tokens)
        target = torch.tensor([labels.index(getattr(scenes[i].shapes[0], attr)) for i in single], device=device)
        loss = loss + F.cross_entropy(scale * img[single] @ txt.t(), target)
    return loss / 2


class ShapeReadout(torch.nn.Module):
    """A training-only linear read-out of each one-shape scene's shape from its CLIP image embedding (never saved
    with the tokenizer). The label loss cannot bring shape into the pooled embedding on its own: the text tower
    gives the three shape templates one embedding, so its gradient towards shape is zero, and the image embedding
    carries no shape for the text tower to learn from (docs/demo-training.md, run 12). This read-out's own weights
    break that deadlock: its gradient asks the encoder (through the quantiser's straight-through estimator) to put
    shape into the codes' pooled features, where a later CLIP-only stage can align the text tower with it."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.head = torch.nn.Linear(embed_dim, len(world.SHAPES))

    def forward(self, img: torch.Tensor, scenes: list) -> tuple[torch.Tensor, float]:
        """(cross-entropy over the batch's one-shape scenes, their accuracy); (0, nan) when there are none."""
        single = [i for i, s in enumerate(scenes) if len(s.shapes) == 1]
        if not single:
            return img.sum() * 0, float("nan")
        target = torch.tensor([world.SHAPES.index(scenes[i].shapes[0].shape) for i in single], device=img.device)
        logits = self.head(img[single])
        return F.cross_entropy(logits, target), (logits.argmax(1) == target).float().mean().item()


def clip_loss(model: UniTok, img: torch.Tensor, texts: list[str], device) -> torch.Tensor:
    """Symmetric InfoNCE of image embeddings img [B, D] (image_embedding) against the texts' embeddings."""
    tokens = torch.from_numpy(world.clip_tokenize(texts, model.cfg.text_context_length)).to(device)
    txt = model.encode_text(tokens)
    logits = model.logit_scale.clamp(0, math.log(100)).exp() * img @ txt.t()
    same = torch.tensor([[a == b for b in texts] for a in texts], dtype=torch.float32, device=device)
    target = same / same.sum(1, keepdim=True)
    return 0.5 * (torch.sum(-target * logits.log_softmax(1), 1).mean() + torch.sum(-target * logits.log_softmax(0).t(), 1).mean())


def _tiles(imgs: np.ndarray, tokens: int) -> np.ndarray:
    """uint8 images [B, H, W, 3] -> int16 [B, tokens, pixels per patch, 3]: the row-major square patches, one per
    visual token."""
    B, H, W, _ = imgs.shape
    patch = H // int(round(tokens ** 0.5))
    tiles = imgs.astype(np.int16).reshape(B, H // patch, patch, W // patch, patch, 3).transpose(0, 1, 3, 2, 4, 5)
    return tiles.reshape(B, (H // patch) * (W // patch), patch * patch, 3)


def flat_patches(imgs: np.ndarray, tokens: int) -> np.ndarray:
    """[B, tokens] per visual token (row-major square patches, `tokens` of them per image): the index in
    world.BACKGROUNDS of the one colour its whole patch shows (every pixel within 8 levels of it), or -1 when it
    shows more than flat background (a shape or its edge)."""
    palette = np.asarray(list(world.BACKGROUNDS.values()), np.int16)  # [C, 3]
    tiles = _tiles(imgs, tokens)
    first = tiles[:, :, :1]  # a flat patch equals its first pixel everywhere
    flat = (np.abs(tiles - first).max(-1) <= 8).all(-1)
    nearest = np.abs(first[:, :, 0, None, :] - palette[None, None]).max(-1)  # [B, N, C]
    colour = nearest.argmin(-1)
    return np.where(flat & (nearest.min(-1) <= 8), colour, -1)


def locality_loss(z: torch.Tensor, keys: np.ndarray, num_codebooks: int) -> torch.Tensor:
    """Mean within-colour variance of the normalised latent chunks (what the quantiser compares with its
    codebooks) of flat patches (keys [B, N] from flat_patches; -1 = not flat): 0 when every flat patch of a colour
    has the same latent, whatever else its image shows."""
    B, N, C = z.shape
    chunks = F.normalize(z.view(B, N, num_codebooks, C // num_codebooks), dim=-1)
    keys_t = torch.from_numpy(keys).to(z.device)
    losses = []
    for colour in np.unique(keys[keys >= 0]):
        group = chunks[keys_t == int(colour)]  # [M, K, d]
        if len(group) > 1:
            losses.append((group - group.mean(0, keepdim=True)).pow(2).sum(-1).mean())
    return torch.stack(losses).mean() if losses else z.sum() * 0


def partner_scenes(scenes: list, seed: int) -> list:
    """Each scene with one of its shapes taken away (which one: a generator seeded by `seed`); a one-shape scene's
    partner is its bare background. A patch the removed shape does not reach shows the same pixels in both."""
    rng = np.random.default_rng(seed)
    drops = [int(rng.integers(len(s.shapes))) for s in scenes]
    return [dataclasses.replace(s, shapes=tuple(x for j, x in enumerate(s.shapes) if j != d))
            for s, d in zip(scenes, drops)]


def same_patches(a: np.ndarray, b: np.ndarray, tokens: int) -> np.ndarray:
    """[B, tokens] bool: the patch shows exactly the same pixels in images a and b."""
    return (_tiles(a, tokens) == _tiles(b, tokens)).all(axis=(2, 3))


def pair_loss(z_a: torch.Tensor, z_b: torch.Tensor, same: np.ndarray, num_codebooks: int) -> torch.Tensor:
    """Mean squared distance between the normalised latent chunks of the patches that are pixel-identical in two
    images (same [B, N] from same_patches): 0 when such a patch gets the same latent, hence the same codes,
    whatever the rest of its image shows. Extends locality_loss from flat background to shapes and their edges."""
    B, N, C = z_a.shape
    mask = torch.from_numpy(same).to(z_a.device)
    if not bool(mask.any()):
        return z_a.sum() * 0
    chunk = lambda z: F.normalize(z.view(B, N, num_codebooks, C // num_codebooks), dim=-1)[mask]  # noqa: E731
    return (chunk(z_a) - chunk(z_b)).pow(2).sum(-1).mean()


@torch.no_grad()
def pair_code_agreement(model: UniTok, count: int, device, batch: int = 16) -> dict:
    """Held-out scenes against their partners (partner_scenes): the share of pixel-identical patches that get the
    same 8-code tuple, over all such patches and over those that show part of a shape (not flat background)."""
    agree, shape_agree = [], []
    for start in range(0, count, batch):
        scenes = [world.make_scene("heldout", i) for i in range(start, min(start + batch, count))]
        a = np.stack([world.render(s) for s in scenes])
        b = np.stack([world.render(s) for s in partner_scenes(scenes, start)])
        codes_a, codes_b = (model.img_to_idx(torch.from_numpy(world.to_pixels(x)).to(device)).cpu().numpy()
                            for x in (a, b))  # [B, K, N]
        same = same_patches(a, b, codes_a.shape[2])
        equal = (codes_a == codes_b).all(1)  # [B, N]
        agree += list(equal[same])
        shape_agree += list(equal[same & (flat_patches(a, codes_a.shape[2]) < 0)])
    return {"images": count, "patches": len(agree), "same_tuple": float(np.mean(agree)) if agree else None,
            "shape_patches": len(shape_agree),
            "same_tuple_shape_patches": float(np.mean(shape_agree)) if shape_agree else None}


@torch.no_grad()
def flat_code_tuples(model: UniTok, count: int, device, batch: int = 16) -> dict:
    """How many 8-code tuples held-out flat background patches take per colour: the mean over colours of the
    distinct tuples, and the share of flat patches that take their colour's most common tuple (1.0: one tuple per
    colour, the easiest first visual token for the MLLM to choose)."""
    seen: dict[int, dict[tuple, int]] = {}
    for start in range(0, count, batch):
        imgs = np.stack([world.render(world.make_scene("heldout", i)) for i in range(start, min(start + batch, count))])
        codes = model.img_to_idx(torch.from_numpy(world.to_pixels(imgs)).to(device)).cpu().numpy()  # [B, K, N]
        keys = flat_patches(imgs, codes.shape[2])
        for b, n in zip(*np.nonzero(keys >= 0)):
            tuples = seen.setdefault(int(keys[b, n]), {})
            t = tuple(codes[b, :, n])
            tuples[t] = tuples.get(t, 0) + 1
    distinct = [len(t) for t in seen.values()]
    top = sum(max(t.values()) for t in seen.values()) / max(sum(sum(t.values()) for t in seen.values()), 1)
    return {"images": count, "colours": len(seen), "distinct_tuples_per_colour": float(np.mean(distinct)),
            "top_tuple_share": float(top)}


@torch.no_grad()
def restart_dead_codes(model: UniTok, usage: torch.Tensor, chunks: torch.Tensor, gen: torch.Generator) -> int:
    """usage [K, size]: hits since the last restart. Each unused entry is moved onto a latent of the batch, drawn
    with probability proportional to how badly the codebook fits it now (1 - best cosine). Random draws would
    mostly pick background latents (most of every image): the codebook then collapses onto a few background
    codes and the shapes, a small share of the tokens, are never encoded."""
    restarted = 0
    for k, cb in enumerate(model.quantizer.codebooks):
        dead = (usage[k] == 0).nonzero().flatten()
        if len(dead) == 0:
            continue
        pool = chunks[k].reshape(-1, chunks.shape[-1])
        misfit = (1 - (pool @ cb.codebook.get_norm_weight().t()).max(-1).values).clamp(min=1e-6).cpu()
        pick = torch.multinomial(misfit, len(dead), replacement=len(dead) > len(pool), generator=gen).to(pool.device)
        noise = 0.01 * torch.randn(len(dead), pool.shape[1], generator=gen).to(pool.device)
        cb.codebook.weight[dead] = pool[pick] + noise
        restarted += len(dead)
    usage.zero_()
    return restarted


@torch.no_grad()
def heldout_psnr(model: UniTok, count: int, device, batch: int = 16) -> dict:
    """Encode -> codes -> decode on held-out scenes; PSNR of the 8-bit images (as a user would save them)."""
    model.eval()
    errs, used = [], torch.zeros(model.cfg.num_codebooks, model.cfg.codebook_size)
    for start in range(0, count, batch):
        imgs = np.stack([world.render(world.make_scene("heldout", i)) for i in range(start, min(start + batch, count))])
        codes = model.img_to_idx(torch.from_numpy(world.to_pixels(imgs)).to(device))
        rec = model.idx_to_img(codes).cpu()
        rec8 = world.from_pixels(rec).astype(np.float32)
        errs += list(((rec8 - imgs.astype(np.float32)) ** 2).reshape(len(imgs), -1).mean(1))
        for k in range(codes.shape[1]):
            used[k] += torch.bincount(codes[:, k].flatten().cpu(), minlength=model.cfg.codebook_size)
    model.train()
    errs = np.asarray(errs)
    psnr = 10 * np.log10(255.0**2 / np.maximum(errs, 1e-10))
    return {"images": count, "psnr_mean": float(psnr.mean()), "psnr_of_mean_mse": float(10 * np.log10(255**2 / errs.mean())),
            "psnr_min": float(psnr.min()), "codebook_usage": float((used > 0).float().mean())}


def train(out: str, steps: int, batch: int, lr: float, minutes: float | None, restart_every: int,
          save_every: int, threads: int | None, eval_images: int, vq_start: int = 0,
          clip_weight: float = CLIP_WEIGHT, label_weight: float = LABEL_WEIGHT, edge_weight: float = EDGE_WEIGHT,
          readout_weight: float = 0.0, locality_weight: float = LOCALITY_WEIGHT, pair_weight: float = 0.0) -> dict:
    device = setup_torch(threads)
    os.makedirs(out, exist_ok=True)
    cfg = get_tokenizer_config("demo")
    assert cfg.text_vocab_size == CLIP_VOCAB_SIZE, "the demo text tower reads open_clip BPE ids"
    torch.manual_seed(0)
    model = UniTok(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    state_path = os.path.join(out, STATE_FILE)
    step, elapsed = resume(state_path, model, opt, "tokenizer")
    # The read-out has its own optimiser and file, so a run can resume with or without it.
    readout = ShapeReadout(cfg.embed_dim).to(device) if readout_weight else None
    readout_opt = torch.optim.AdamW(readout.parameters(), lr=lr, betas=(0.9, 0.95)) if readout else None
    saved_readout = load_checkpoint(state_path + ".readout") if readout else None
    if saved_readout:
        readout.load_state_dict(saved_readout["readout"])
        readout_opt.load_state_dict(saved_readout["opt"])
    usage = torch.zeros(cfg.num_codebooks, cfg.codebook_size, device=device)
    gen = torch.Generator().manual_seed(step)
    progress, avg = StepProgress("tokenizer", steps, step), RunningMean()
    t_start = time.monotonic() - elapsed

    def checkpoint():
        if readout:  # written first: a checkpoint is never newer than its read-out
            save_checkpoint(state_path + ".readout", {"readout": readout.state_dict(), "opt": readout_opt.state_dict()})
        save_checkpoint(state_path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                                     "elapsed": time.monotonic() - t_start})

    model.train()
    optimizers = [o for o in (opt, readout_opt) if o is not None]
    while step < steps:
        if minutes is not None and time.monotonic() - t_start > minutes * 60:
            print(f"\nwall-clock budget of {minutes} min spent at step {step}; stopping", flush=True)
            break
        time_frac = (time.monotonic() - t_start) / (minutes * 60) if minutes else 0.0
        for o in optimizers:
            for g in o.param_groups:
                g["lr"] = lr_at(step, steps, lr, warmup=50, time_frac=time_frac)
        imgs, texts, scenes = batch_for_step(step, batch)
        x = torch.from_numpy(world.to_pixels(imgs)).to(device)
        weight = foreground_weights(imgs, [s.background for s in scenes], edge_weight).to(device)
        z = model.quant_proj(model.encoder(x))
        quantize = step >= vq_start
        if step == vq_start and vq_start > 0:
            usage.zero_()  # every entry counts as dead: the first restart seeds the codebooks from real latents
            restart_dead_codes(model, usage, quantize_train(model, z, False)[3], gen)
        zq, codes, vq, chunks = quantize_train(model, z, quantize)
        feats = model.post_quant_proj(zq)
        rec = model.decoder(feats)
        mse = F.mse_loss(rec.detach(), x)
        rec_loss = ((rec - x).pow(2) * weight).mean() + ((rec - x).abs() * weight).mean()
        img = image_embedding(model, feats)
        cl = clip_loss(model, img, texts, device)
        lab = label_loss(model, img, scenes, device)
        loss = rec_loss + vq + clip_weight * cl + label_weight * lab
        shown = {}
        if locality_weight:
            keys = flat_patches(imgs, z.shape[1])
            loc = locality_loss(z, keys, cfg.num_codebooks)
            loss = loss + locality_weight * loc
            shown["locality"] = loc.item()
        if pair_weight:  # one more encoder pass, on each scene with a shape taken away
            partners = np.stack([world.render(p) for p in partner_scenes(scenes, step)])
            z_b = model.quant_proj(model.encoder(torch.from_numpy(world.to_pixels(partners)).to(device)))
            pair = pair_loss(z, z_b, same_patches(imgs, partners, z.shape[1]), cfg.num_codebooks)
            loss = loss + pair_weight * pair
            shown["pair"] = pair.item()
        if readout:
            ro, ro_acc = readout(img, scenes)
            loss = loss + readout_weight * ro
            shown = {"readout": ro.item(), **({} if math.isnan(ro_acc) else {"readout_acc": ro_acc})}
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for o in optimizers:
            o.step()
        with torch.no_grad():
            for k, cb in enumerate(model.quantizer.codebooks):
                hits = torch.bincount(codes[:, k].flatten(), minlength=cfg.codebook_size).float()
                usage[k] += hits
                cb.vocab_usage.mul_(0.99).add_(0.01 * hits / hits.sum())  # the released buffer: EMA usage share
        step += 1
        if quantize and step % restart_every == 0 and max(step / steps, time_frac) < 0.8:  # stop restarting once the codes settle
            restart_dead_codes(model, usage, chunks, gen)
        used = sum(len(torch.unique(codes[:, k])) for k in range(cfg.num_codebooks)) / cfg.num_codebooks
        figures = avg.add(loss=loss.item(), psnr=10 * math.log10(4.0 / max(mse.item(), 1e-10)), vq=vq.item(),
                          clip=cl.item(), label=lab.item(), codes_per_batch=used, **shown)
        progress.update(step, figures, force=step == steps)
        if step % save_every == 0:
            checkpoint()
    progress.close()
    checkpoint()
    model.eval()
    save_released_tokenizer(model.cpu(), os.path.join(out, RELEASED_FILE))
    metrics = {"steps": step, "batch": batch, "clip_weight": clip_weight, "label_weight": label_weight,
               "edge_weight": edge_weight, "readout_weight": readout_weight, "locality_weight": locality_weight,
               **({"pair_weight": pair_weight} if pair_weight else {}),
               "train_minutes": (time.monotonic() - t_start) / 60,
               "heldout": heldout_psnr(model, eval_images, torch.device("cpu")),
               "flat_codes": flat_code_tuples(model, eval_images, torch.device("cpu")),
               "pair_codes": pair_code_agreement(model, eval_images, torch.device("cpu"))}
    with open(os.path.join(out, "tokenizer_metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(json.dumps(metrics, indent=2), flush=True)
    return metrics


def perturb_codes(codes: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """codes [B, K, N] with each code, with probability p, replaced by the same codebook's code at a random token
    of a random image of the batch: codes that are each plausible but need not belong together, as the MLLM's
    sampled tuples are (docs/demo-training.md, session 17)."""
    b, k, n = codes.shape
    hit = torch.rand(codes.shape, generator=gen) < p
    donor = codes[torch.randint(b, codes.shape, generator=gen), torch.arange(k).view(1, k, 1).expand(b, k, n),
                  torch.randint(n, codes.shape, generator=gen)]
    return torch.where(hit, donor, codes)


def finetune_decoder(out: str, steps: int, batch: int, lr: float, minutes: float | None, save_every: int,
                     threads: int | None, eval_images: int, edge_weight: float = 0.0,
                     readout_weight: float = 0.0, code_noise: float = 0.0) -> dict:
    """Continue training the decoder on a finished tokenizer. The encoder, quant_proj and codebooks are frozen, so
    every image keeps its codes: an MLLM trained on them stays valid. Writes decoder_train.pt while running and
    updates unitok_tokenizer.pth at the end.

    readout_weight > 0 also trains post_quant_proj and the CLIP image head (fc_norm, projection) with the shape
    read-out, the label loss and the contrastive loss (text tower frozen; a --clip-only round afterwards aligns
    it), checkpointing to decoder_readout_train.pt: post_quant_proj attends over all of an image's codes, so it can
    gather shape from codes that each say only what their own patch looks like, without changing the codes
    (docs/demo-training.md, run 19b). Start it after train-mllm: the MLLM copies post_quant_proj when it starts and
    trains its own copy from there.

    code_noise > 0 reconstructs each image from its codes perturbed by perturb_codes (the read-out and CLIP losses
    still see the clean codes): a decoder that draws a clean outline from a near-miss tuple."""
    device = setup_torch(threads)
    released = os.path.join(out, RELEASED_FILE)
    model = load_released_tokenizer(released, "demo")[0].to(device)
    model.requires_grad_(False)
    parts = {"decoder": model.decoder}
    if readout_weight:
        parts.update(post_quant_proj=model.post_quant_proj, fc_norm=model.fc_norm, projection=model.projection)
    trained = torch.nn.ModuleDict(parts)
    trained.requires_grad_(True)
    readout = ShapeReadout(model.cfg.embed_dim).to(device) if readout_weight else None
    params = list(trained.parameters()) + (list(readout.parameters()) if readout else [])
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    # One file per kind of run, so a decoder-only checkpoint is never resumed as a read-out one.
    state_path = os.path.join(out, "decoder_readout_train.pt" if readout else "decoder_train.pt")
    held = torch.nn.ModuleDict({**parts, "readout": readout}) if readout else model.decoder
    step, elapsed = resume(state_path, held, opt, "decoder", key="decoder")
    t_start = time.monotonic() - elapsed
    progress, avg = StepProgress("decoder", steps, step), RunningMean()

    def checkpoint():
        save_checkpoint(state_path, {"decoder": held.state_dict(), "opt": opt.state_dict(), "step": step,
                                     "elapsed": time.monotonic() - t_start})

    model.eval()
    trained.train()
    while step < steps:
        spent = time.monotonic() - t_start
        if minutes is not None and spent > minutes * 60:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, warmup=20, time_frac=spent / (minutes * 60) if minutes else 0.0)
        # Fresh scenes (offset past the main run's), encoded by the frozen encoder.
        imgs, texts, scenes = batch_for_step(100_000 + step, batch)
        x = torch.from_numpy(world.to_pixels(imgs)).to(device)
        with torch.no_grad():
            codes = model.img_to_idx(x)
        project = lambda c: model.post_quant_proj(model.quantizer.idx_to_f(c))  # noqa: E731
        feats = project(codes) if readout or not code_noise else None  # the clean codes' features
        # Perturbed with a generator seeded by the step, so a resumed run perturbs as an unbroken one would.
        rec = model.decoder(project(perturb_codes(codes, code_noise, torch.Generator().manual_seed(step)))
                            if code_noise else feats)
        weight = foreground_weights(imgs, [s.background for s in scenes], edge_weight).to(device)
        loss = ((rec - x).pow(2) * weight).mean() + ((rec - x).abs() * weight).mean()
        shown = {}
        if readout:
            img = image_embedding(model, feats)
            ro, ro_acc = readout(img, scenes)
            loss = (loss + readout_weight * ro + CLIP_WEIGHT * clip_loss(model, img, texts, device)
                    + LABEL_WEIGHT * label_loss(model, img, scenes, device))
            shown = {"readout": ro.item(), **({} if math.isnan(ro_acc) else {"readout_acc": ro_acc})}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        mse = F.mse_loss(rec.detach(), x).item()
        progress.update(step, avg.add(loss=loss.item(), psnr=10 * math.log10(4.0 / max(mse, 1e-10)), **shown),
                        force=step == steps)
        if step % save_every == 0:
            checkpoint()
    progress.close()
    checkpoint()
    model.eval()
    save_released_tokenizer(model.cpu(), released)
    metrics = _load_json(os.path.join(out, "tokenizer_metrics.json"))
    # Each invocation's budget and step cap, when it differs from the last: a stage continued with a larger budget
    # (rebuild-demo's readout-more) is two commands, and the model card lists both.
    rounds = metrics.get("decoder_finetune", {}).get("rounds", []) if progress.start_step > 0 else []
    budget = {"minutes": minutes, "steps": steps, **({"code_noise": code_noise} if code_noise else {})}
    if (not rounds or rounds[-1] != budget) and step > progress.start_step:  # a round that trained nothing adds none
        rounds = [*rounds, budget]
    metrics["decoder_finetune"] = {"steps": step, "batch": batch, "lr": lr, "edge_weight": edge_weight,
                                   "readout_weight": readout_weight,
                                   "train_minutes": (time.monotonic() - t_start) / 60, "rounds": rounds}
    metrics["heldout"] = heldout_psnr(model, eval_images, torch.device("cpu"))
    with open(os.path.join(out, "tokenizer_metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(json.dumps(metrics, indent=2), flush=True)
    return metrics


def finetune_clip(out: str, steps: int, batch: int, lr: float, minutes: float | None, threads: int | None,
                  pool: int = 4000, eval_images: int = 300) -> dict:
    """Continue training the CLIP side alone on a finished tokenizer: the text tower, fc_norm, projection and the
    logit scale. Everything the codes, the decoder and the MLLM use is frozen, so this can run beside (or after)
    train-mllm. The image embedding is a linear map of the mean of post_quant_proj's features, so those means
    are computed once for `pool` train scenes; a step then costs only the text tower. Updates
    unitok_tokenizer.pth and adds "clip_finetune" (with held-out zero-shot) to tokenizer_metrics.json."""
    from .evaluate import zero_shot

    device = setup_torch(threads)
    released = os.path.join(out, RELEASED_FILE)
    model = load_released_tokenizer(released, "demo")[0].to(device).eval()
    model.requires_grad_(False)
    trained = [model.text_encoder, model.fc_norm, model.projection]
    for m in trained:
        m.requires_grad_(True)
    model.logit_scale.requires_grad_(True)
    params = [p for m in trained for p in m.parameters()] + [model.logit_scale]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    with torch.no_grad():
        means = []
        for start in range(0, pool, 64):
            imgs = np.stack([world.render(world.make_scene("train", 200_000 + i))
                             for i in range(start, min(start + 64, pool))])
            codes = model.img_to_idx(torch.from_numpy(world.to_pixels(imgs)).to(device))
            means.append(model.post_quant_proj(model.quantizer.idx_to_f(codes)).mean(dim=1))
        means = torch.cat(means)
    progress, avg, t0 = StepProgress("clip", steps, 0), RunningMean(), time.monotonic()
    step = 0
    while step < steps and (minutes is None or time.monotonic() - t0 < minutes * 60):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, warmup=20, time_frac=(time.monotonic() - t0) / (minutes * 60) if minutes else 0.0)
        rng = np.random.default_rng([7, step])
        idx = rng.choice(pool, batch, replace=False)
        scenes = [world.make_scene("train", 200_000 + int(i)) for i in idx]
        texts = [language.clip_text(scene, rng) for scene in scenes]
        img = image_embedding(model, means[torch.from_numpy(idx)][:, None])  # [B, 1, W]: the stored mean
        loss = clip_loss(model, img, texts, device) + label_loss(model, img, scenes, device, train_text=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        progress.update(step, avg.add(clip=loss.item()), force=step == steps)
    progress.close()
    model.eval()
    save_released_tokenizer(model.cpu(), released)
    metrics = _load_json(os.path.join(out, "tokenizer_metrics.json"))
    metrics["clip_finetune"] = {"steps": step, "batch": batch, "lr": lr, "pool": pool,
                                "train_minutes": (time.monotonic() - t0) / 60,
                                "zero_shot": zero_shot(model, eval_images)}
    with open(os.path.join(out, "tokenizer_metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(json.dumps(metrics["clip_finetune"], indent=2), flush=True)
    return metrics


def _load_json(path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok train-tokenizer", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap, "run folder (resumes from its tokenizer_train.pt)", batch=16, lr=1e-3, steps=3000, minutes=24)
    ap.add_argument("--restart-every", type=int, default=25)
    ap.add_argument("--vq-start", type=int, default=150,
                    help="warm-up steps as a plain autoencoder (normalised latents, no quantisation); the codebooks "
                         "are then seeded from the encoder's latents")
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--eval-images", type=int, default=256)
    ap.add_argument("--clip-weight", type=float, default=CLIP_WEIGHT,
                    help="weight of the image-text contrastive loss against reconstruction (UniTok: 1)")
    ap.add_argument("--label-weight", type=float, default=LABEL_WEIGHT,
                    help="weight of the zero-shot label loss (one-shape scenes: shape and colour among the templates)")
    ap.add_argument("--decoder-only", action="store_true",
                    help="fine-tune only the decoder of the finished run (codes unchanged; see finetune_decoder)")
    ap.add_argument("--edge-weight", type=float, default=EDGE_WEIGHT,
                    help="extra reconstruction loss weight on pixels near colour edges (foreground_weights), in the "
                         "main stage or with --decoder-only")
    ap.add_argument("--readout-weight", type=float, default=0.0,
                    help="weight of a training-only linear read-out of shape from the CLIP image embedding "
                         "(ShapeReadout), to bring shape into the pooled embedding; in the main stage, or with "
                         "--decoder-only, where it also trains post_quant_proj and the CLIP image head (codes unchanged)")
    ap.add_argument("--code-noise", type=float, default=0.0,
                    help="with --decoder-only: the probability with which each code of an image is swapped for one "
                         "from elsewhere in the batch before decoding (perturb_codes); 0: off")
    ap.add_argument("--locality-weight", type=float, default=LOCALITY_WEIGHT,
                    help="weight of the within-colour variance of flat background patches' latents (locality_loss), "
                         "so that such a patch has few code tuples whatever the rest of the image shows; 0: off")
    ap.add_argument("--pair-weight", type=float, default=0.0,
                    help="weight of the distance between the latents of patches that show the same pixels in a "
                         "scene and in the scene with one shape taken away (pair_loss: codes that depend on their "
                         "own patch, shapes included); one more encoder pass a step; 0: off")
    ap.add_argument("--clip-only", action="store_true",
                    help="fine-tune only the CLIP side (text tower, fc_norm, projection) of the finished run (codes, "
                         "decoder and everything the MLLM uses unchanged; see finetune_clip)")
    args = ap.parse_args(argv)
    if args.clip_only:
        finetune_clip(args.out, args.steps, args.batch, args.lr, args.minutes, args.threads,
                      eval_images=args.eval_images)
        return 0
    if args.decoder_only:
        finetune_decoder(args.out, args.steps, args.batch, args.lr, args.minutes, args.save_every, args.threads,
                         args.eval_images, args.edge_weight, args.readout_weight, args.code_noise)
        return 0
    train(args.out, args.steps, args.batch, args.lr, args.minutes, args.restart_every, args.save_every,
          args.threads, args.eval_images, args.vq_start, args.clip_weight, args.label_weight, args.edge_weight,
          args.readout_weight, args.locality_weight, args.pair_weight)
    return 0
