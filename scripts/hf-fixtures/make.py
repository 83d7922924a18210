#!/usr/bin/env python3
# Makes the Hugging Face reference fixtures in test/fixtures/hf/: for each supported architecture
# variant a tiny random model (config.json + model.safetensors, float32, written by transformers'
# own save_pretrained) and reference.json, what transformers' own forward (eager attention, the
# model cast to float64) gives for a fixed prompt of token ids: the greedy continuation and the
# logits of every row that predicts it. Also rope.json: transformers' RoPE inverse frequencies and
# attention factor for a set of rope_scaling settings (real models' shapes), no weights.
# test/runtime/graph/hfReference.test.ts checks our runtime against these.
#
# Needs python3 with torch and transformers (and safetensors, which transformers brings); no
# network, no tokenizer. Run from the repository root:
#
#   python3 scripts/hf-fixtures/make.py --out test/fixtures/hf [--tar fixtures.tar.gz]
#
# It is deterministic for a given torch/transformers (versions go into every reference.json).
# The fixtures in the repository were made with the versions their reference.json names.
import argparse
import importlib
import json
import math
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import traceback

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

PROMPT_LEN = 40
STEPS = 12  # greedy tokens; logits are kept for STEPS + 1 rows (the last one follows the whole continuation)
STD = 0.15  # weight std: logits spread over a unit or so, so the greedy choices are well separated
NORM_STD = 0.1  # RMSNorm weights 1 +/- this
MIN_GAP = 2e-3  # smallest accepted top-1 minus top-2 logit gap on the greedy path (float32 error is ~1e-5)
SEED_TRIES = 40

BASE = {
    "vocab_size": 256,
    "hidden_size": 48,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6,
    "hidden_act": "silu",
    "bos_token_id": 1,
    "eos_token_id": 2,
    "initializer_range": 0.02,
}

LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False, "mlp_bias": False}

# Hub-style config.json contents (legacy "rope_theta" / "rope_scaling" keys, as most Hub models carry
# them); transformers reads these, and save_pretrained writes its own form into the fixture.
VARIANTS = {
    # head_dim from hidden / heads = 12.
    "llama": {**LLAMA, **BASE, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False},
    # head_dim 16: 4 x 16 = 64 != hidden 48, so q/o projections are not square.
    "llama-tied": {**LLAMA, **BASE, "head_dim": 16, "rope_theta": 10000.0, "tie_word_embeddings": True},
    # Llama 3.1 scaling (tied, like Llama 3.2 1B / 3B) with an original context (32) below the positions used (52), a low theta so
    # that kept, interpolated and divided frequency bands all occur at head_dim 16.
    "llama3-rope": {
        **LLAMA,
        **BASE,
        "head_dim": 16,
        "rope_theta": 500.0,
        "eos_token_id": [2, 3],
        "tie_word_embeddings": True,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
    },
    # One KV head for all four query heads.
    "mistral": {
        "architectures": ["MistralForCausalLM"],
        "model_type": "mistral",
        **BASE,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
    },
    # q/k/v biases; head_dim 12.
    "qwen2": {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        **BASE,
        "bos_token_id": None,
        "rope_theta": 1000000.0,
        "use_sliding_window": False,
        "sliding_window": None,
        "tie_word_embeddings": True,
    },
    # q_norm / k_norm, head_dim 32 (4 x 32 = 128 != hidden 48), tied head.
    "qwen3": {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        **BASE,
        "bos_token_id": None,
        "head_dim": 32,
        "rope_theta": 1000000.0,
        "attention_bias": False,
        "use_sliding_window": False,
        "sliding_window": None,
        "tie_word_embeddings": True,
    },
    # YaRN, factor 4 over an original context of 32 (the positions used run to 51), low theta:
    # the ramp has kept, blended and interpolated dimensions; attention factor 0.1 ln 4 + 1.
    "qwen3-yarn": {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        **BASE,
        "bos_token_id": None,
        "head_dim": 16,
        "rope_theta": 500.0,
        "attention_bias": False,
        "use_sliding_window": False,
        "sliding_window": None,
        "tie_word_embeddings": True,
        "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32},
    },
}

# rope.json: rotary settings of real models (and the YaRN options), head_dim at full size.
ROPE_BASE = {"vocab_size": 8, "hidden_size": 16, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1, "num_key_value_heads": 1}
QWEN3_8B = {**ROPE_BASE, "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "head_dim": 128, "rope_theta": 1000000.0, "max_position_embeddings": 40960}
LLAMA31_8B = {**ROPE_BASE, "architectures": ["LlamaForCausalLM"], "model_type": "llama", "head_dim": 128, "rope_theta": 500000.0, "max_position_embeddings": 131072}
ROPE_PROBES = {
    "default-llama-hd64": {**ROPE_BASE, "architectures": ["LlamaForCausalLM"], "model_type": "llama", "head_dim": 64, "rope_theta": 10000.0, "max_position_embeddings": 2048},
    "llama3.1-8b": {**LLAMA31_8B, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}},
    "llama3.2-1b": {**LLAMA31_8B, "head_dim": 64, "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}},
    # Qwen's documented 128k setting: max_position_embeddings left at 40960, factor 4 over 32768.
    "yarn-qwen3-documented": {**QWEN3_8B, "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}},
    # max_position_embeddings / original = 4 = factor: every reading of "factor" agrees.
    "yarn-consistent": {**QWEN3_8B, "max_position_embeddings": 131072, "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}},
    # max_position_embeddings / original = 32 != factor 4: tells which one transformers uses.
    "yarn-factor-vs-ratio": {**QWEN3_8B, "max_position_embeddings": 131072, "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}},
    # No original_max_position_embeddings: the original context is max_position_embeddings.
    "yarn-no-original": {**QWEN3_8B, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}},
    "yarn-betas": {**QWEN3_8B, "rope_scaling": {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 32768, "beta_fast": 16.0, "beta_slow": 2.0}},
    "yarn-no-truncate": {**QWEN3_8B, "rope_theta": 150000.0, "head_dim": 64, "max_position_embeddings": 131072, "rope_scaling": {"rope_type": "yarn", "factor": 32.0, "original_max_position_embeddings": 4096, "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False}},
    "yarn-attention-factor": {**QWEN3_8B, "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768, "attention_factor": 1.25}},
    "yarn-mscale": {**QWEN3_8B, "head_dim": 64, "rope_scaling": {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096, "mscale": 1.0, "mscale_all_dim": 0.707}},
    "yarn-llama": {**LLAMA31_8B, "rope_scaling": {"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 65536}},
}


def log(*a):
    print(*a, flush=True)


def hf_config(raw, tmp):
    """transformers' config object for a Hub-style config.json, read the way from_pretrained reads one."""
    d = tempfile.mkdtemp(dir=tmp)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(raw, f)
    return AutoConfig.from_pretrained(d)


def new_model(config):
    try:
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    except TypeError:
        config._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(config)
    return model.float().eval()


def load_saved(d, warnings):
    try:
        model = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager")
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(d)
        model.config._attn_implementation = "eager"
    impl = getattr(model.config, "_attn_implementation", None)
    if impl != "eager":
        warnings.append(f"attention implementation is {impl!r}, not eager")
    return model.double().eval()


def is_tied(model):
    return model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def init_weights(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + NORM_STD * noise)
            else:
                p.copy_(STD * noise)


def rounded(x):
    # 8 significant digits (|error| < 5e-8 on logits of a few units): far below any tolerance the
    # tests use, and about half the JSON of repr(); the fixtures stay small.
    return float(f"{x:.8g}")


def last_logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1]


def greedy(model, prompt, steps):
    ids = list(prompt)
    out, rows = [], []
    for _ in range(steps + 1):
        row = last_logits(model, ids)
        rows.append(row)
        if len(out) < steps:
            nxt = int(torch.argmax(row))
            out.append(nxt)
            ids.append(nxt)
    return out, rows


def top2_gap(row):
    top = torch.topk(row, 2).values
    return float(top[0] - top[1])


def rotary_of(model):
    rot = getattr(model.model, "rotary_emb", None)
    if rot is None:
        return None
    return {
        "rope_type": getattr(rot, "rope_type", None),
        "inv_freq": [float(x) for x in rot.inv_freq.double().tolist()],
        "attention_scaling": float(getattr(rot, "attention_scaling", 1.0)),
    }


def hf_generate(model, prompt, steps):
    """transformers' own generate (KV cache path), as a cross-check of the recompute loop."""
    try:
        ids = torch.tensor([prompt])
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=steps, min_new_tokens=steps, do_sample=False)
        return [int(x) for x in out[0, len(prompt):].tolist()]
    except Exception as e:  # noqa: BLE001 - recorded, not fatal
        return f"generate failed: {type(e).__name__}: {e}"


def eos_ids(raw):
    e = raw.get("eos_token_id")
    return set(e if isinstance(e, list) else [] if e is None else [e])


def make_variant(name, raw, index, out_dir, tmp, provenance):
    vocab = raw["vocab_size"]
    g = torch.Generator().manual_seed(7000 + index)
    prompt = [int(x) for x in torch.randint(3, vocab, (PROMPT_LEN,), generator=g).tolist()]
    banned = eos_ids(raw) | {raw.get("bos_token_id")}
    target = os.path.join(out_dir, name)
    for attempt in range(SEED_TRIES):
        seed = 1000 * (index + 1) + attempt
        config = hf_config(raw, tmp)
        torch.manual_seed(seed)
        model = new_model(config)
        warnings = []
        if raw["tie_word_embeddings"] and not is_tied(model):
            model.tie_weights()
        init_weights(model, seed)
        if is_tied(model) != bool(raw["tie_word_embeddings"]):
            warnings.append(f"lm_head tied={is_tied(model)}, config says {raw['tie_word_embeddings']}")
        if os.path.exists(target):
            shutil.rmtree(target)
        try:
            model.save_pretrained(target, safe_serialization=True)
        except TypeError:
            model.save_pretrained(target)
        for f in os.listdir(target):
            if f not in ("config.json", "model.safetensors"):
                os.remove(os.path.join(target, f))
        # The reference runs on the model as read back from the saved files, in float64.
        ref = load_saved(target, warnings)
        with torch.no_grad():
            saved = dict(ref.named_parameters())
            for n, p in model.named_parameters():
                if n not in saved or not torch.equal(saved[n].float(), p):
                    warnings.append(f"{n} differs after save/load")
            if is_tied(ref) != bool(raw["tie_word_embeddings"]):
                warnings.append(f"reloaded lm_head tied={is_tied(ref)}, config says {raw['tie_word_embeddings']}")
        ids, rows = greedy(ref, prompt, STEPS)
        gaps = [top2_gap(r) for r in rows[:STEPS]]
        why = []
        if min(gaps) < MIN_GAP:
            why.append(f"top-2 gap {min(gaps):.2e}")
        if len(set(ids)) < 4:
            why.append(f"only {len(set(ids))} distinct tokens")
        if banned & set(ids):
            why.append("an eos/bos token")
        if why:
            log(f"  {name}: seed {seed} rejected ({', '.join(why)})")
            continue
        # Cross-checks: one forward over the whole sequence gives the same rows; generate() the same ids.
        with torch.no_grad():
            full = ref(input_ids=torch.tensor([prompt + ids]), use_cache=False).logits[0]
        rows_full = full[PROMPT_LEN - 1 :]
        consistency = max(float((rows_full[i] - rows[i]).abs().max()) for i in range(STEPS + 1))
        if consistency > 1e-9:
            warnings.append(f"full forward and step forwards differ by {consistency}")
        gen = hf_generate(ref, prompt, STEPS)
        reference = {
            "variant": name,
            "provenance": provenance,
            "hub_config": raw,
            "seed": seed,
            "weight_std": STD,
            "norm_std": NORM_STD,
            "attn_implementation": "eager",
            "reference_dtype": "float64 (the float32 weights as saved, cast to float64)",
            "prompt_ids": prompt,
            "greedy_ids": ids,
            "logits_note": "logits[i] is the row at position prompt_len - 1 + i: rows 0..steps-1 predict greedy_ids, the last follows all of them; 8 significant digits",
            "logits_dtype": str(rows[0].dtype),
            "logits": [[rounded(x) for x in r.tolist()] for r in rows],
            "min_top2_gap": min(gaps),
            "hf_generate_ids": gen,
            "hf_generate_agrees": gen == ids,
            "full_vs_step_max_diff": consistency,
            "rotary": rotary_of(ref),
            "warnings": warnings,
        }
        with open(os.path.join(target, "reference.json"), "w") as f:
            json.dump(reference, f, separators=(",", ":"))
            f.write("\n")
        size = sum(os.path.getsize(os.path.join(target, f)) for f in os.listdir(target))
        log(f"  {name}: seed {seed}, greedy {ids}, min gap {min(gaps):.3g}, generate agrees {gen == ids}, {size} bytes")
        for w in warnings:
            log(f"  {name}: WARNING {w}")
        return
    raise SystemExit(f"{name}: no seed in {SEED_TRIES} tries gave a usable model")


def rotary_class(model_type):
    mod = importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")
    for n in dir(mod):
        if n.endswith("RotaryEmbedding") and n.lower().startswith(model_type.replace("_", "")):
            return getattr(mod, n)
    raise LookupError(f"no rotary embedding class in {mod.__name__}")


def rope_probes(tmp):
    out = {}
    for name, raw in ROPE_PROBES.items():
        try:
            config = hf_config(raw, tmp)
            rot = rotary_class(raw["model_type"])(config=config)
            try:
                saved = json.loads(config.to_json_string(use_diff=False))
            except Exception as e:  # noqa: BLE001
                saved = {"error": f"{type(e).__name__}: {e}"}
            out[name] = {
                "hub_config": raw,
                # transformers' own serialization of the config (what save_pretrained would write).
                "saved_config": saved,
                "rope_type": getattr(rot, "rope_type", None),
                "inv_freq": [float(x) for x in rot.inv_freq.double().tolist()],
                "attention_scaling": float(getattr(rot, "attention_scaling", 1.0)),
            }
            log(f"  rope {name}: {out[name]['rope_type']}, attention scaling {out[name]['attention_scaling']}")
        except Exception as e:  # noqa: BLE001 - recorded: the test skips a probe transformers refused
            out[name] = {"hub_config": raw, "error": f"{type(e).__name__}: {e}"}
            log(f"  rope {name}: ERROR {type(e).__name__}: {e}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="folder for <variant>/ and rope.json")
    ap.add_argument("--tar", help="also pack the folder into this .tar.gz")
    ap.add_argument("--only", nargs="*", help="variants to make (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    provenance = {
        "script": "scripts/hf-fixtures/make.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    log(f"transformers {transformers.__version__}, torch {torch.__version__}, python {platform.python_version()}")
    os.makedirs(args.out, exist_ok=True)
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, raw) in enumerate(VARIANTS.items()):
            if args.only and name not in args.only:
                continue
            try:
                make_variant(name, raw, i, args.out, tmp, provenance)
            except BaseException:  # noqa: BLE001 - the other variants are still made
                traceback.print_exc()
                failed.append(name)
        if not args.only:
            with open(os.path.join(args.out, "rope.json"), "w") as f:
                json.dump({"provenance": provenance, "probes": rope_probes(tmp)}, f, separators=(",", ":"))
                f.write("\n")
    if args.tar:
        with tarfile.open(args.tar, "w:gz") as t:
            for n in sorted(os.listdir(args.out)):
                t.add(os.path.join(args.out, n), arcname=n)
        log(f"wrote {args.tar} ({os.path.getsize(args.tar)} bytes)")
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
