"""The demo training code: the quantiser's training forward, the released sequence formats of the MLLM batches,
the losses learning, and the released-layout output the converter reads. Small and fast; no trained model needed."""
import json

import numpy as np
import pytest
import torch

from unitok.config import get_tokenizer_config
from unitok.convert.bundle_config import TEXT_TO_IMAGE
from unitok.demo import train_mllm, train_tokenizer, world
from unitok.modules.unitok import UniTok, init_random
from unitok.text_tokenizer import LlamaTokenizer

torch.set_num_threads(2)


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
    loss = train_tokenizer.clip_loss(tokenizer_model, feats, texts, "cpu")
    assert torch.isfinite(loss) and loss.item() > 0


def _row_tokens(batch, r):
    return batch["ids"][r].tolist(), batch["labels"][r].tolist(), int(batch["starts"][r])


def test_batches_follow_the_released_formats(rows):
    codes = np.random.default_rng(0).integers(0, 256, size=(16, 8, 64)).astype(np.uint8)
    batch = train_mllm.make_batch(rows, codes, step=3, batch=16)
    tok = rows.tok
    assert batch["t2i"].any() and (~batch["t2i"]).any()
    suffix = tok.encode(TEXT_TO_IMAGE["suffix"].strip(), add_bos=False)
    uncond = tok.encode(TEXT_TO_IMAGE["unconditional"], add_bos=True)
    for r in range(16):
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
        else:
            text = tok.decode(ids[start + 64:])
            assert text.startswith("\n") and " ASSISTANT: " in text
            answer = [t for _, t in supervised]
            assert answer[-1] == 2 and supervised[0][0] == ids.index(2, start) - len(answer)  # the answer, then eos


def test_losses_learn_and_checkpoint_round_trips(tokenizer_model, rows, tmp_path):
    torch.manual_seed(0)
    model = train_mllm.build_model(tokenizer_model)
    emb = model.model.multi_embedder
    assert torch.equal(emb.quantizer.codebooks[0].codebook.weight, tokenizer_model.quantizer.codebooks[0].codebook.weight)
    assert not any(p.requires_grad for p in emb.quantizer.parameters())
    codes = np.random.default_rng(1).integers(0, 256, size=(8, 8, 64)).astype(np.uint8)
    batch = train_mllm.make_batch(rows, codes, step=0, batch=6)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(8):  # overfit one batch
        out = train_mllm.losses(model, batch, "cpu")
        first = first if first is not None else {k: out[k].item() for k in ("text", "depth_ce")}
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert first["depth_ce"] == pytest.approx(np.log(256), rel=0.1)  # chance level at the start
    assert out["text"].item() < 0.8 * first["text"] and out["depth_ce"].item() < first["depth_ce"]

    train_mllm.save_hf_folder(model.eval(), str(tmp_path / "mllm"))
    config = json.loads((tmp_path / "mllm" / "config.json").read_text())
    assert config["hidden_size"] == 128 and config["vocab_size"] == 32000
    loaded = train_mllm.load_hf_folder(str(tmp_path / "mllm"))
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
