"""The demo training code: the quantiser's training forward, the released sequence formats of the MLLM batches,
the losses learning, and the released-layout output the converter reads. Small and fast; no trained model needed."""
import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch

from unitok.config import get_tokenizer_config
from unitok.convert.bundle_config import TEXT_TO_IMAGE
from unitok.demo import train_mllm, train_tokenizer, world
from unitok.demo.common import add_run_args
from unitok.modules.unitok import UniTok, init_random
from unitok.text_tokenizer import LlamaTokenizer

torch.set_num_threads(1)  # see unitok/demo/common.py setup_torch


@pytest.fixture(scope="module")
def tokenizer_model():
    return init_random(UniTok(get_tokenizer_config("demo")), seed=3).eval()


@pytest.fixture(scope="module")
def rows():
    return train_mllm.Rows(LlamaTokenizer.load())


def test_training_quantiser_picks_the_inference_codes_and_passes_gradients(tokenizer_model):
    x = torch.from_numpy(world.to_pixels(np.stack([world.render(world.make_scene("train", i)) for i in range(2)])))
    z = tokenizer_model.quant_proj(tokenizer_model.encoder(x)).detach().requires_grad_(True)
    zq, codes, vq, _ = train_tokenizer.quantize_train(tokenizer_model, z)
    assert torch.equal(codes, tokenizer_model.quantizer.f_to_idx(z))
    # Forward value = the codebook vectors the decoder sees at inference.
    assert torch.allclose(zq, tokenizer_model.quantizer.idx_to_f(codes), atol=1e-6)
    (zq.sum() + vq).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0  # straight-through estimator
    assert vq.item() > 0


def test_contrastive_loss_prefers_matching_pairs(tokenizer_model):
    torch.manual_seed(0)
    feats = torch.randn(4, 64, tokenizer_model.cfg.width)
    texts = ["a circle", "a square", "a red object", "a circle"]
    img = train_tokenizer.image_embedding(tokenizer_model, feats)
    loss = train_tokenizer.clip_loss(tokenizer_model, img, texts, "cpu")
    assert torch.isfinite(loss) and loss.item() > 0


def _row_tokens(batch, r):
    return batch["ids"][r].tolist(), batch["labels"][r].tolist(), int(batch["starts"][r])


def test_batches_follow_the_released_formats(rows):
    codes = np.random.default_rng(0).integers(0, 256, size=(16, 8, 64)).astype(np.uint8)
    groups = train_mllm.make_batch(rows, codes, step=3, batch=16, mix=train_mllm.Mix(text_share=0.0),
                                   centred_codes=codes)
    assert [bool(g["t2i"].all()) for g in groups] == [False, True]  # chats, then text -> image rows
    assert sum(len(g["t2i"]) for g in groups) == 16 and not groups[0]["t2i"].any()
    tok = rows.tok
    suffix = tok.encode(TEXT_TO_IMAGE["suffix"].strip(), add_bos=False)
    uncond = tok.encode(TEXT_TO_IMAGE["unconditional"], add_bos=True)
    for batch in groups:
        for r in range(len(batch["t2i"])):
            ids, labels, start = _row_tokens(batch, r)
            supervised = [(i, t) for i, t in enumerate(labels) if t != train_mllm.IGNORE]
            # Position i is trained to predict token i + 1.
            assert all(ids[i + 1] == t for i, t in supervised)
            assert ids[0] == 1  # BOS
            if batch["t2i"][r]:
                assert ids[start - 1] == 3 and ids[start + 64:start + 66] == [4, 2]  # boi, image, eoi, eos
                prompt = ids[:start - 1]
                assert prompt == uncond or prompt[-len(suffix):] == suffix
                assert [t for _, t in supervised] == [4, 2]
                assert batch["positions"][r, : start + 66].tolist() == list(range(start + 66))
                continue
            # A chat row: the vicuna prompt and image, then several "\n{question} ASSISTANT: {answer}</s>" branches,
            # each restarting at the position right after the image.
            prefix = start + 64
            pos = batch["positions"][r].tolist()
            branch_starts = [i for i in range(prefix, len(pos)) if pos[i] == prefix]
            assert len(branch_starts) >= 2
            answers, end = [], len(ids) - ids[::-1].index(2)  # after the last eos: padding
            for i, b0 in enumerate(branch_starts):
                b1 = branch_starts[i + 1] if i + 1 < len(branch_starts) else end
                text = tok.decode(ids[b0:b1])
                # One turn, or (train_mllm.TWO_TURNS) an earlier question and answer, then this one.
                assert text.startswith("\n") and text.count(" ASSISTANT: ") in (1, 2), text
                answer = [t for j, t in supervised if b0 <= j < b1]
                assert answer[-1] == 2 and ids[b1 - 1] == 2  # the answer, then eos ends the branch
                answers.append(tok.decode(answer[:-1]).strip())
                # The branch sees the prefix and itself, nothing of the other branches.
                seen = (batch["bias"][r, 0, b1 - 1] == 0).nonzero().flatten().tolist()
                assert seen == list(range(prefix)) + list(range(b0, b1))
            # A colour question and a shape question always come first (in any phrasing).
            assert answers[0] in world.COLORS and answers[1] in world.SHAPES, answers


def test_text_only_chats_have_no_image_and_reply_after_the_request(rows):
    codes = np.zeros((4, 8, 64), np.uint8)
    groups = train_mllm.make_batch(rows, codes, step=0, batch=4, mix=train_mllm.Mix(text_share=1.0))
    assert len(groups) == 1 and groups[0]["codes"].shape[2] == 0
    batch, tok = groups[0], rows.tok
    for r in range(len(batch["t2i"])):
        ids, labels, start = _row_tokens(batch, r)
        pos = batch["positions"][r].tolist()
        branch_starts = [i for i in range(start, len(pos)) if pos[i] == start]
        assert len(branch_starts) >= 2
        for i, b0 in enumerate(branch_starts):
            b1 = branch_starts[i + 1] if i + 1 < len(branch_starts) else ids.index(2, b0) + 1
            # Prefix + branch is exactly the text-only vicuna prompt and the reply.
            text = tok.decode(ids[:start] + ids[b0:b1])
            assert "USER: " in text and " ASSISTANT: " in text and "<image>" not in text
            reply = tok.decode([t for j, t in enumerate(labels) if b0 <= j + 0 < b1 and t != train_mllm.IGNORE][:-1])
            assert text.endswith(reply.strip() + "</s>") or reply.strip() in text


def test_packed_questions_equal_single_turn_chats(tokenizer_model, rows):
    """A chat row's branches are exactly the single-turn chats inference runs: same logits at every answer token."""
    torch.manual_seed(0)
    model = train_mllm.build_model(tokenizer_model).eval()
    codes = np.random.default_rng(2).integers(0, 256, size=(4, 8, 64)).astype(np.uint8)
    scene = world.make_scene("train", 5)
    chat = {**rows.chat(scene, np.random.default_rng(0), 8), "scene": scene, "index": 1}
    packed = train_mllm.pad_group([chat], codes, np.random.default_rng(0), 0.3)
    with torch.no_grad():
        logits = _answer_logits(model, packed)
        singles = [train_mllm.pad_group([{**chat, "branches": [b]}], codes, np.random.default_rng(0), 0.3)
                   for b in chat["branches"]]
        one_by_one = torch.cat([_answer_logits(model, b) for b in singles])
    assert len(chat["branches"]) >= 4 and logits.shape == one_by_one.shape
    assert (logits - one_by_one).abs().max().item() < 1e-4


def _layers_reached(model, group, read_out: str | None = None) -> list[bool]:
    """Which decoder layers get a gradient from the read-outs' loss; with `read_out`, from that read-out alone (the
    others' weights zeroed: no gradient flows back through them)."""
    heads = train_mllm.AuxHeads(128, 8, layer=2)
    if read_out is not None:
        with torch.no_grad():
            for other in ("shape", "here", "next", "plan", "occupancy"):
                if other != read_out:
                    getattr(heads, other).weight.zero_()
    model.zero_grad(set_to_none=True)
    train_mllm.losses(model, group, "cpu", heads)["aux"].backward()
    return [any(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())
            for layer in model.model.layers]


def test_chat_read_outs_train_the_layers_an_answer_reads(tokenizer_model, rows):
    """The chat read-outs read the middle layer's output: their loss reaches the layers up to it and not the later
    ones, whose image-token states no answer reads."""
    torch.manual_seed(0)
    model = train_mllm.build_model(tokenizer_model)
    codes = np.random.default_rng(3).integers(0, 256, size=(4, 8, 64)).astype(np.uint8)
    groups = train_mllm.make_batch(rows, codes, step=0, batch=3, mix=train_mllm.Mix(t2i_share=0.0))
    assert len(groups) == 1 and not groups[0]["t2i"].any()
    assert _layers_reached(model, groups[0]) == [True, True, False, False]


def test_chat_rows_read_the_image_layout_at_their_answers(tokenizer_model, rows):
    """Chats get their scene's layout as plan targets, read at the answer positions of the middle layer: with every
    other read-out zeroed, its loss reaches layers 1-2, and it changes when an answer position's state does."""
    scenes = [world.make_scene("train", i) for i in range(3)]
    codes = np.random.default_rng(5).integers(0, 256, size=(3, 8, 64)).astype(np.uint8)
    chats = [{**rows.chat(s, np.random.default_rng(i), 8), "scene": s, "index": i} for i, s in enumerate(scenes)]
    group = train_mllm.pad_group(chats, codes, np.random.default_rng(0), 0.3)
    assert [p.tolist() for p in group["plan"]] == [train_mllm.scene_plan(s).tolist() for s in scenes]
    torch.manual_seed(0)
    model = train_mllm.build_model(tokenizer_model)
    heads = train_mllm.AuxHeads(128, 8, layer=2)
    out = train_mllm.losses(model, group, "cpu", heads)
    assert 0.0 <= out["aux_scene_acc"].item() <= 1.0
    assert _layers_reached(model, group, "plan") == [True, True, False, False]
    # Scrambling the layout targets of one row changes the loss: the targets are read per answer position's row.
    scrambled = {**group, "plan": group["plan"].clone()}
    scrambled["plan"][0] = torch.roll(scrambled["plan"][0], 1, dims=1)
    with torch.no_grad():
        assert train_mllm.losses(model, scrambled, "cpu", heads)["aux"].item() != out["aux"].item()


def test_text_to_image_read_outs_see_the_prompt_layout(tokenizer_model, rows):
    """The plan targets are the caption's cells; dropped captions get none. The plan reads the middle layer (its
    loss reaches layers 1-2 only); the occupancy read-out reads the state the depth head reads (the last layer)."""
    scene = world.Scene("white", (world.Shape("circle", "red", "large", 0, 21.0, 21.0),
                                  world.Shape("triangle", "blue", "small", 8, 107.0, 107.0)))
    plan = train_mllm.scene_plan(scene)
    assert plan[:, 0].tolist() == [1 + list(world.COLORS).index("red"), 1 + world.SHAPES.index("circle")]
    assert plan[:, 8].tolist() == [1 + list(world.COLORS).index("blue"), 1 + world.SHAPES.index("triangle")]
    assert (plan[:, 1:8] == 0).all()
    codes = np.random.default_rng(4).integers(0, 256, size=(4, 8, 64)).astype(np.uint8)
    seqs = [{**rows.t2i(scene, np.random.default_rng(seed)), "scene": scene, "index": 0} for seed in range(30)]
    dropped = [not s["conditioned"] for s in seqs]
    assert any(dropped) and not all(dropped)
    group = train_mllm.pad_group(seqs, codes, np.random.default_rng(0), 0.3)
    for r, d in enumerate(dropped):
        want = np.full_like(plan, train_mllm.IGNORE) if d else train_mllm.scene_plan(scene, seqs[r]["mention"])
        assert group["plan"][r].tolist() == want.tolist()
    # A prompt that leaves out a colour or a shape has no target for it; one that leaves out a cell, none at all.
    said = {"shapes": [dict(color=False, shape=True, size=False, position=True),
                       dict(color=True, shape=False, size=False, position=True)], "background": False}
    partial = train_mllm.scene_plan(scene, said)
    assert partial[:, 0].tolist() == [train_mllm.IGNORE, 1 + world.SHAPES.index("circle")]
    assert partial[:, 8].tolist() == [1 + list(world.COLORS).index("blue"), train_mllm.IGNORE]
    said["shapes"][1]["position"] = False
    assert (train_mllm.scene_plan(scene, said) == train_mllm.IGNORE).all()
    torch.manual_seed(0)
    model = train_mllm.build_model(tokenizer_model)
    aux = train_mllm.AuxHeads(128, 8, layer=2)
    out = train_mllm.losses(model, group, "cpu", aux)
    assert 0.0 <= out["aux_plan_acc"].item() <= 1.0
    assert _layers_reached(model, group, "plan") == [True, True, False, False]
    assert _layers_reached(model, group, "occupancy") == [True, True, True, True]


def _answer_logits(model, batch):
    from unitok.modules.llama import run_decoder

    x = model.embed_text(batch["ids"])
    start = int(batch["starts"][0])
    x[0, start:start + 64] = model.embed_visual(batch["codes"])[0]
    hidden, _ = run_decoder(model.model.layers, model.model.norm, model.cfg, x, position_ids=batch["positions"],
                            bias=batch["bias"])
    return model.lm_head(hidden[batch["labels"] != train_mllm.IGNORE])


def test_token_shapes_label_each_shape_box():
    scene = world.Scene("white", (world.Shape("circle", "red", "large", 0, 21.0, 21.0),
                                  world.Shape("triangle", "blue", "small", 4, 64.0, 64.0)))
    labels = train_mllm.token_shapes(scene, 8).reshape(8, 8)
    assert (labels[0:3, 0:3] == 1).all()  # circle: pixels 4..38 -> tokens 0..2
    assert (labels[3:5, 3:5] == 3).all()  # triangle: pixels 54..74 -> tokens 3..4
    assert (labels == 0).sum() == 64 - 9 - 4
    overlapping = world.Scene("white", (world.Shape("circle", "red", "small", 0, 30.0, 30.0),
                                        world.Shape("square", "blue", "small", 1, 40.0, 30.0)))
    assert (train_mllm.token_shapes(overlapping, 8) == train_mllm.IGNORE).any()


def test_aux_position_targets_are_raster_order():
    aux = train_mllm.AuxHeads(4, 8)
    with torch.no_grad():  # a head that reads row and column off the input exactly
        aux.here.weight.zero_()
        aux.here.bias.zero_()
        aux.here.weight[torch.arange(8), 0] = 100 * torch.arange(8.0)
        aux.here.bias[:8] = -50 * torch.arange(8.0) ** 2
        aux.here.weight[8 + torch.arange(8), 1] = 100 * torch.arange(8.0)
        aux.here.bias[8:] = -50 * torch.arange(8.0) ** 2
    j = torch.arange(64.0)
    h = torch.stack((j // 8, j % 8, torch.zeros(64), torch.zeros(64)), -1)[None]
    assert aux.position_loss(aux.here, h).item() < 1e-3
    assert aux.position_loss(aux.here, h.flip(1)).item() > 1.0


def test_depth_head_trains_on_every_shape_token():
    scene = world.make_scene("train", 11, count=1)
    touched = train_mllm.touched_tokens(scene, 8).reshape(8, 8)
    s = scene.shapes[0]
    r = world.SIZES[s.size]
    rows_, cols = touched.any(1).nonzero()[0], touched.any(0).nonzero()[0]
    assert rows_.min() * 16 <= s.cy - r < (rows_.min() + 1) * 16 and rows_.max() * 16 <= s.cy + r < (rows_.max() + 1) * 16
    assert cols.min() * 16 <= s.cx - r < (cols.min() + 1) * 16 and cols.max() * 16 <= s.cx + r < (cols.max() + 1) * 16
    assert touched.sum() == len(rows_) * len(cols)  # one box per shape
    rows = train_mllm.Rows(LlamaTokenizer.load())
    codes = np.zeros((1, 8, 64), np.uint8)
    seq = {**rows.t2i(scene, np.random.default_rng(0)), "scene": scene, "index": 0}
    focus = train_mllm.pad_group([seq], codes, np.random.default_rng(0), 0.3)["focus"][0]
    assert focus[torch.from_numpy(touched.reshape(-1))].all() and 0 < (~focus).sum() < (~touched).sum()
    # Whole rows: the shape's and the one above it, where the model decides where the shape starts.
    band = focus.view(8, 8)[max(rows_.min() - 1, 0): rows_.max() + 1]
    assert band.all()
    assert train_mllm.shape_band(touched.reshape(-1), 8).reshape(8, 8).any(1).sum() == len(rows_) + (rows_.min() > 0)


def test_losses_learn_and_checkpoint_round_trips(tokenizer_model, rows, tmp_path):
    torch.manual_seed(0)
    model = train_mllm.build_model(tokenizer_model)
    emb = model.model.multi_embedder
    assert torch.equal(emb.quantizer.codebooks[0].codebook.weight, tokenizer_model.quantizer.codebooks[0].codebook.weight)
    assert not any(p.requires_grad for p in emb.quantizer.parameters())
    codes = np.random.default_rng(1).integers(0, 256, size=(8, 8, 64)).astype(np.uint8)
    batch = train_mllm.make_batch(rows, codes, step=0, batch=6, centred_codes=codes)
    aux = train_mllm.AuxHeads(128, 8)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad] + list(aux.parameters()), lr=3e-3)
    first = None
    for _ in range(8):  # overfit one batch
        out = train_mllm.step_losses(model, batch, "cpu", aux)
        first = first if first is not None else {k: out[k].item() for k in ("text", "depth_ce", "aux")}
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert first["depth_ce"] == pytest.approx(np.log(256), rel=0.1)  # chance level at the start
    assert out["text"].item() < 0.8 * first["text"] and out["depth_ce"].item() < first["depth_ce"]
    assert out["aux"].item() < 0.8 * first["aux"]
    assert not any(k.startswith(("shape", "here", "next")) for k in model.state_dict())  # read-outs stay outside

    train_mllm.save_hf_folder(model.eval(), str(tmp_path / "mllm"))
    config = json.loads((tmp_path / "mllm" / "config.json").read_text())
    assert config["hidden_size"] == 128 and config["vocab_size"] == 32000
    loaded = train_mllm.load_hf_folder(str(tmp_path / "mllm"))
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_time_budget_option():
    """--minutes defaults to the recipe's budget, 0 turns it off, and a non-number is refused by name."""
    ap = argparse.ArgumentParser()
    add_run_args(ap, "run folder", batch=32, lr=2e-3, steps=6000, minutes=63)
    assert ap.parse_args([]).minutes == 63
    assert ap.parse_args(["--minutes", "0"]).minutes is None
    assert ap.parse_args(["--minutes", "1.5"]).minutes == 1.5
    with pytest.raises(SystemExit):
        ap.parse_args(["--minutes", "soon"])


def test_clip_only_fine_tune_changes_the_clip_side_only(tokenizer_model, tmp_path):
    """--clip-only trains the text tower, fc_norm, projection and logit scale; the codes, the decoder and what the
    MLLM copies (quantiser, post_quant_proj) stay as they were."""
    from unitok.export.tokenizer_onnx import load_released_tokenizer, save_released_tokenizer

    save_released_tokenizer(tokenizer_model, str(tmp_path / train_tokenizer.RELEASED_FILE))
    before = {k: v.clone() for k, v in tokenizer_model.state_dict().items()}
    train_tokenizer.finetune_clip(str(tmp_path), steps=3, batch=8, lr=1e-3, minutes=None, threads=1, pool=16,
                                  eval_images=8)
    after = load_released_tokenizer(str(tmp_path / train_tokenizer.RELEASED_FILE), "demo")[0].state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"text_encoder", "fc_norm", "projection", "logit_scale"}
    metrics = json.loads((tmp_path / "tokenizer_metrics.json").read_text())
    assert set(metrics["clip_finetune"]["zero_shot"]) == {"images", "shape_accuracy", "color_accuracy"}


def test_edge_band_marks_pixels_near_colour_edges():
    """foreground_weights' edge term: EDGE_BAND pixels either side of every colour change, nothing in flat areas."""
    img = np.zeros((1, 16, 16, 3), np.uint8)
    img[0, 4:12, 4:12] = 200  # an 8 x 8 square
    band = train_tokenizer.edge_band(img)[0]
    b = train_tokenizer.EDGE_BAND
    assert band[8, 8] == 0 and band[0, 0] == 0 and band[15, 15] == 0  # inside, and far outside
    assert band[4, 8] == 1 and band[3, 8] == 1 and band[8, 11] == 1 and band[8, 12] == 1  # both sides of the edges
    # The first pixel of each differing pair is the edge (row 3 above the square, row 11 its last): the band
    # reaches EDGE_BAND pixels from it.
    assert band[3 - b, 8] == 1 and band[3 - b - 1, 8] == 0 and band[11 + b, 8] == 1 and band[11 + b + 1, 8] == 0
    weights = train_tokenizer.foreground_weights(img, ["black"], edge_weight=10.0)[0, 0]
    plain = train_tokenizer.foreground_weights(img, ["black"])[0, 0]
    assert torch.allclose(weights - plain, torch.from_numpy(band * 10.0))


def test_decoder_only_fine_tune_with_edge_weight_changes_the_decoder_only(tokenizer_model, tmp_path):
    from unitok.export.tokenizer_onnx import load_released_tokenizer, save_released_tokenizer

    save_released_tokenizer(tokenizer_model, str(tmp_path / train_tokenizer.RELEASED_FILE))
    before = {k: v.clone() for k, v in tokenizer_model.state_dict().items()}
    train_tokenizer.finetune_decoder(str(tmp_path), steps=2, batch=4, lr=1e-3, minutes=None, save_every=10,
                                     threads=1, eval_images=4, edge_weight=16.0)
    after = load_released_tokenizer(str(tmp_path / train_tokenizer.RELEASED_FILE), "demo")[0].state_dict()
    assert {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])} == {"decoder"}
    ft = json.loads((tmp_path / "tokenizer_metrics.json").read_text())["decoder_finetune"]
    assert ft["edge_weight"] == 16.0 and not ft["readout_weight"]
    assert ft["rounds"] == [{"minutes": None, "steps": 2}]
    # Continued with a larger cap (resumes at step 2): a second round; the same command again adds none.
    for _ in range(2):
        train_tokenizer.finetune_decoder(str(tmp_path), steps=3, batch=4, lr=1e-3, minutes=None, save_every=10,
                                         threads=1, eval_images=4, edge_weight=16.0)
    ft = json.loads((tmp_path / "tokenizer_metrics.json").read_text())["decoder_finetune"]
    assert ft["steps"] == 3 and ft["rounds"] == [{"minutes": None, "steps": 2}, {"minutes": None, "steps": 3}]
    # A budget already spent (rebuild-demo's readout-more given readout's own minutes): no steps, no new round.
    train_tokenizer.finetune_decoder(str(tmp_path), steps=3, batch=4, lr=1e-3, minutes=0.0, save_every=10,
                                     threads=1, eval_images=4, edge_weight=16.0)
    ft = json.loads((tmp_path / "tokenizer_metrics.json").read_text())["decoder_finetune"]
    assert ft["rounds"] == [{"minutes": None, "steps": 2}, {"minutes": None, "steps": 3}]


def test_decoder_only_fine_tune_with_readout_keeps_the_codes(tokenizer_model, tmp_path):
    """With a read-out, the fixed-codes stage also trains post_quant_proj and the CLIP image head; the encoder,
    quant_proj, codebooks and text tower (what gives an image its codes, and the text side) stay as they were."""
    from unitok.export.tokenizer_onnx import load_released_tokenizer, save_released_tokenizer

    save_released_tokenizer(tokenizer_model, str(tmp_path / train_tokenizer.RELEASED_FILE))
    before = {k: v.clone() for k, v in tokenizer_model.state_dict().items()}
    train_tokenizer.finetune_decoder(str(tmp_path), steps=2, batch=4, lr=1e-3, minutes=None, save_every=10,
                                     threads=1, eval_images=4, edge_weight=16.0, readout_weight=4.0)
    after = load_released_tokenizer(str(tmp_path / train_tokenizer.RELEASED_FILE), "demo")[0].state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"decoder", "post_quant_proj", "fc_norm", "projection"}
    assert (tmp_path / "decoder_readout_train.pt").exists() and not (tmp_path / "decoder_train.pt").exists()
    ft = json.loads((tmp_path / "tokenizer_metrics.json").read_text())["decoder_finetune"]
    assert ft["readout_weight"] == 4.0 and ft["lr"] == 1e-3


def test_perturb_codes_swaps_codes_within_their_codebook_at_the_given_rate():
    gen = torch.Generator().manual_seed(0)
    # Codebook k's codes are all in [100 k, 100 k + 50), so a swap across codebooks would show.
    codes = torch.stack([torch.randint(50, (4, 64), generator=gen) + 100 * k for k in range(8)], dim=1)
    noisy = train_tokenizer.perturb_codes(codes, 0.25, torch.Generator().manual_seed(1))
    assert noisy.shape == codes.shape and noisy.dtype == codes.dtype
    assert torch.equal(noisy // 100, codes // 100)
    assert 0.15 < (noisy != codes).float().mean().item() < 0.3  # 0.25, less the swaps that drew the same code
    assert torch.equal(train_tokenizer.perturb_codes(codes, 0.0, torch.Generator().manual_seed(1)), codes)
    assert torch.equal(noisy, train_tokenizer.perturb_codes(codes, 0.25, torch.Generator().manual_seed(1)))


def test_decoder_only_fine_tune_with_code_noise_records_it_in_its_round(tokenizer_model, tmp_path):
    from unitok.export.tokenizer_onnx import save_released_tokenizer

    save_released_tokenizer(tokenizer_model, str(tmp_path / train_tokenizer.RELEASED_FILE))
    train_tokenizer.finetune_decoder(str(tmp_path), steps=2, batch=4, lr=1e-3, minutes=None, save_every=10,
                                     threads=1, eval_images=4, edge_weight=16.0, readout_weight=4.0)
    train_tokenizer.finetune_decoder(str(tmp_path), steps=3, batch=4, lr=1e-3, minutes=None, save_every=10,
                                     threads=1, eval_images=4, edge_weight=16.0, readout_weight=4.0, code_noise=0.1)
    ft = json.loads((tmp_path / "tokenizer_metrics.json").read_text())["decoder_finetune"]
    assert ft["rounds"] == [{"minutes": None, "steps": 2}, {"minutes": None, "steps": 3, "code_noise": 0.1}]


def test_reconstruction_oracle_reports_what_each_shape_reads_as(tokenizer_model):
    from unitok.demo.evaluate import reconstruction_oracle

    report = reconstruction_oracle(tokenizer_model.eval(), 6)
    assert report["images"] == 6 and 0 <= report["shape_accuracy"] <= 1
    assert sum(report["read_as"].values()) == 6
    assert all(k.split("->")[0] in world.SHAPES for k in report["read_as"])
    noisy = reconstruction_oracle(tokenizer_model.eval(), 6, code_noise=0.2)
    assert noisy["code_noise"] == 0.2 and sum(noisy["read_as"].values()) == 6 and "code_noise" not in report


def test_shape_readout_reads_one_shape_scenes_and_reaches_the_image_embedding(tokenizer_model):
    scenes = [world.make_scene("train", i) for i in range(12)]
    single = [s for s in scenes if len(s.shapes) == 1]
    assert single and len(single) < len(scenes)
    readout = train_tokenizer.ShapeReadout(tokenizer_model.cfg.embed_dim)
    img = torch.randn(len(scenes), tokenizer_model.cfg.embed_dim, requires_grad=True)
    loss, acc = readout(img, scenes)
    assert loss.item() > 0 and 0 <= acc <= 1
    loss.backward()
    rows = img.grad.abs().sum(1)
    assert all((rows[i] > 0) == (len(s.shapes) == 1) for i, s in enumerate(scenes))  # only one-shape scenes count
    none, nan = readout(img, [s for s in scenes if len(s.shapes) > 1])
    assert none.item() == 0 and nan != nan


def test_centred_drawing_rows_show_the_centred_scene_and_its_codes(rows):
    scene = world.make_scene("train", 5)
    flat = world.centred(scene)
    assert [(s.shape, s.color, s.size, s.cell) for s in flat.shapes] == [(s.shape, s.color, s.size, s.cell)
                                                                          for s in scene.shapes]
    assert all((s.cx, s.cy) == world.cell_centre(s.cell) for s in flat.shapes)
    codes = np.zeros((16, 8, 64), np.uint8)
    centred = np.full((16, 8, 64), 7, np.uint8)
    mix = train_mllm.Mix(t2i_share=1.0, text_share=0.0, t2i_centred=True)
    with pytest.raises(ValueError, match="centred_codes"):
        train_mllm.make_batch(rows, codes, 0, 4, mix)
    train_mllm.make_batch(rows, codes, 0, 4, dataclasses.replace(mix, t2i_share=0.0))  # no drawing row: not needed
    (group,) = train_mllm.make_batch(rows, codes, 0, 4, mix, centred_codes=centred)
    assert bool(group["t2i"].all()) and bool((group["codes"] == 7).all())
    # Chats keep the jittered images' codes.
    (chats,) = train_mllm.make_batch(rows, codes, 0, 4, dataclasses.replace(mix, t2i_share=0.0), centred_codes=centred)
    assert not bool(chats["t2i"].any()) and bool((chats["codes"] == 0).all())


def test_decision_tokens_weigh_more_in_the_depth_loss(rows):
    scene = world.centred(world.make_scene("train", 11, count=1))
    decide = train_mllm.decisions(scene, 8)
    s = scene.shapes[0]
    r = world.SIZES[s.size]
    first = int((s.cy - r) // 16) * 8 + int((s.cx - r) // 16)
    assert decide[0] and decide[first] and decide.sum() == 1 + (first != 0)
    assert train_mllm.touched_tokens(scene, 8)[first] and not train_mllm.touched_tokens(scene, 8)[:first].any()
    seq = {**rows.t2i(scene, np.random.default_rng(0)), "scene": scene, "index": 0}
    codes = np.zeros((1, 8, 64), np.uint8)
    plain = train_mllm.pad_group([seq], codes, np.random.default_rng(0), 1.0)["depth_weight"][0]
    weighted = train_mllm.pad_group([seq], codes, np.random.default_rng(0), 1.0, decision_weight=6.0)["depth_weight"][0]
    assert bool((plain == 1).all())
    assert weighted[torch.from_numpy(decide)].eq(6).all() and weighted[torch.from_numpy(~decide)].eq(1).all()


def test_flat_patches_name_the_colour_of_patches_without_a_shape():
    """flat_patches: the background colour's index for patches of one colour, -1 where a shape (or its edge) is."""
    colours = list(world.BACKGROUNDS)
    img = np.zeros((1, 32, 32, 3), np.uint8)
    img[0] = world.BACKGROUNDS["blue"]
    img[0, 18:22, 2:6] = world.BACKGROUNDS["red"]  # a small shape inside the bottom-left 16 x 16 patch
    img[0, 0, 17] += 3  # within the tolerance: still flat
    keys = train_tokenizer.flat_patches(img, 4)  # 2 x 2 tokens of 16 x 16 pixels
    assert keys.tolist() == [[colours.index("blue"), colours.index("blue"), -1, colours.index("blue")]]


def test_locality_loss_is_the_spread_of_one_colours_flat_latents():
    keys = np.asarray([[0, 0, -1, 1], [0, 1, 1, -1]])
    z = torch.randn(1, 1, 16).expand(2, 4, 16).clone()  # every patch the same latent
    assert train_tokenizer.locality_loss(z, keys, num_codebooks=2).item() == pytest.approx(0.0, abs=1e-6)
    z[1, 0] = torch.randn(16)  # one flat patch of colour 0 differs from the others
    z[0, 2] = torch.randn(16)  # a non-flat patch may differ freely
    z.requires_grad_(True)
    loss = train_tokenizer.locality_loss(z, keys, num_codebooks=2)
    loss.backward()
    assert loss.item() > 0.01
    assert z.grad[0, 2].abs().sum() == 0 and z.grad[1, 0].abs().sum() > 0
    assert train_tokenizer.locality_loss(z, np.full((2, 4), -1), 2).item() == 0.0  # no flat patch: no loss


def test_flat_code_tuples_counts_the_tuples_of_flat_patches(tokenizer_model):
    figures = train_tokenizer.flat_code_tuples(tokenizer_model, 4, torch.device("cpu"), batch=2)
    assert figures["images"] == 4 and 1 <= figures["colours"] <= len(world.BACKGROUNDS)
    assert figures["distinct_tuples_per_colour"] >= 1 and 0 < figures["top_tuple_share"] <= 1


def test_tokenizer_training_with_locality_reports_flat_codes(tmp_path):
    metrics = train_tokenizer.train(str(tmp_path), steps=3, batch=2, lr=1e-3, minutes=None, restart_every=25,
                                    save_every=10, threads=1, eval_images=4, vq_start=1, locality_weight=1.0)
    assert metrics["locality_weight"] == 1.0 and metrics["flat_codes"]["images"] == 4
    assert json.loads((tmp_path / "tokenizer_metrics.json").read_text())["flat_codes"] == metrics["flat_codes"]


def test_partner_scenes_take_one_shape_away_and_leave_the_other_patches_as_they_were():
    scenes = [world.make_scene("train", i) for i in range(12)]
    partners = train_tokenizer.partner_scenes(scenes, seed=5)
    assert partners == train_tokenizer.partner_scenes(scenes, seed=5)
    for s, p in zip(scenes, partners):
        assert p.background == s.background and len(p.shapes) == len(s.shapes) - 1 and set(p.shapes) < set(s.shapes)
    a = np.stack([world.render(s) for s in scenes])
    b = np.stack([world.render(p) for p in partners])
    same = train_tokenizer.same_patches(a, b, 64)
    assert same.shape == (12, 64) and 0 < same.mean() < 1
    # A patch is the same exactly when its pixels are; the removed shape's patches differ.
    tiles = lambda x: x.reshape(12, 8, 16, 8, 16, 3).transpose(0, 1, 3, 2, 4, 5).reshape(12, 64, -1)  # noqa: E731
    assert np.array_equal(same, (tiles(a) == tiles(b)).all(-1))


def test_pair_loss_pulls_only_the_identical_patches_latents_together():
    same = np.asarray([[True, False, True, False]])
    z_a = torch.randn(1, 4, 16)
    z_b = z_a.clone()
    assert train_tokenizer.pair_loss(z_a, z_b, same, num_codebooks=2).item() == pytest.approx(0.0, abs=1e-6)
    z_b[0, 1] = torch.randn(16)  # a patch that differs between the images may get another latent
    assert train_tokenizer.pair_loss(z_a, z_b, same, 2).item() == pytest.approx(0.0, abs=1e-6)
    z_b[0, 2] = torch.randn(16)
    z_b.requires_grad_(True)
    loss = train_tokenizer.pair_loss(z_a, z_b, same, 2)
    loss.backward()
    assert loss.item() > 0.01 and z_b.grad[0, 1].abs().sum() == 0 and z_b.grad[0, 2].abs().sum() > 0
    assert train_tokenizer.pair_loss(z_a, z_b, np.zeros((1, 4), bool), 2).item() == 0.0


def test_tokenizer_training_with_pair_weight_reports_pair_codes(tmp_path):
    metrics = train_tokenizer.train(str(tmp_path), steps=2, batch=2, lr=1e-3, minutes=None, restart_every=25,
                                    save_every=10, threads=1, eval_images=4, vq_start=1, pair_weight=1.0)
    pc = metrics["pair_codes"]
    assert metrics["pair_weight"] == 1.0 and pc["images"] == 4 and pc["patches"] > pc["shape_patches"] > 0
    assert 0 <= pc["same_tuple"] <= 1 and 0 <= pc["same_tuple_shape_patches"] <= 1
