#!/usr/bin/python3
"""Independent numpy reference for Graft's adapter merging (engine/lora/merge.go).

It follows PEFT's add_weighted_adapter for the combination types linear, ties,
dare_linear and dare_ties (peft/utils/merge_utils.py): per module, each
adapter's lora_A and lora_B are scaled by sqrt(weight * scaling) and combined
factor by factor, the result with scaling 1. Where PEFT needs equal ranks, the
smaller are padded with zero rows of A / columns of B after pruning. DARE's
Bernoulli draws come from the SplitMix64 formula Graft documents (DAREStream,
DAREUniform), since torch's generator cannot be shared.

Usage: merge_ref.py SPEC.json OUT.safetensors
SPEC: {"adapters": [dir, ...], "weights": [...], "strategy": "...", "density": d,
       "majority_sign": "total|frequency", "seed": s, "layers": L}
OUT holds "layers.{l}.{module}.A" and ".B" for each merged module.
"""
import json
import math
import re
import struct
import sys

import numpy as np

MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
NAME = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$")
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M64 = (1 << 64) - 1


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {info['dtype']}, the reference reads F32 only")
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        b = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_adapter(d):
    cfg = json.load(open(f"{d}/adapter_config.json"))
    r, alpha = cfg["r"], cfg["lora_alpha"]
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise SystemExit("the reference handles adapters without rank or alpha patterns")
    scaling = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
    mods = {}
    for name, t in read_safetensors(f"{d}/adapter_model.safetensors").items():
        m = NAME.match(name)
        layer, mod, ab = int(m.group(1)), MODULES.index(m.group(2)), m.group(3)
        mods.setdefault((layer, mod), {})[ab] = t
    return scaling, mods


def splitmix(z):
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def dare_keep(seed, stream, n, density):
    base = splitmix(splitmix(np.uint64(seed)) ^ np.uint64(stream))
    j = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        u = (splitmix(base + j * GOLDEN) >> np.uint64(11)).astype(np.float64) / 2.0**53
    return u < density


def magnitude_prune(t, density):  # PEFT magnitude_based_pruning
    if density >= 1:
        return t
    flat = t.reshape(-1)
    k = int(density * flat.size)
    keep = np.zeros(flat.size, dtype=bool)
    keep[np.argsort(-np.abs(flat), kind="stable")[:k]] = True
    return np.where(keep, flat, np.float32(0)).reshape(t.shape)


def random_prune(t, density, seed, stream):  # PEFT random_pruning, rescale=True
    if density >= 1:
        return t
    keep = dare_keep(seed, stream, t.size, density).reshape(t.shape)
    return np.where(keep, t, np.float32(0)) / np.float32(density)


def majority_sign_mask(stack, method):  # PEFT calculate_majority_sign_mask
    sign = np.sign(stack)
    magnitude = stack.sum(axis=0) if method == "total" else sign.sum(axis=0)
    majority = np.where(magnitude >= 0, 1, -1)
    return sign == majority


def disjoint_merge(weighted, mask):  # PEFT disjoint_merge
    return (weighted * mask).sum(axis=0) / np.maximum(mask.sum(axis=0), 1)


def combine(tensors, weights, spec, streams):
    s, density = spec["strategy"], spec["density"]
    if s == "ties":
        tensors = [magnitude_prune(t, density) for t in tensors]
    elif s.startswith("dare"):
        tensors = [random_prune(t, density, spec["seed"], st) for t, st in zip(tensors, streams)]
    return tensors


def pad(t, rank, axis):
    widths = [(0, 0), (0, 0)]
    widths[axis] = (0, rank - t.shape[axis])
    return np.pad(t, widths)


def merge(spec):
    adapters = [load_adapter(d) for d in spec["adapters"]]
    out = {}
    for layer in range(spec["layers"]):
        for mod in range(len(MODULES)):
            present = [(i, sc, mods[(layer, mod)]) for i, (sc, mods) in enumerate(adapters) if (layer, mod) in mods]
            if not present:
                continue
            rank = max(p[2]["A"].shape[0] for p in present)
            w = np.array([math.sqrt(spec["weights"][i] * sc) for i, sc, _ in present], dtype=np.float32)
            for ab, axis, bit in (("A", 0, 0), ("B", 1, 1)):
                streams = [i << 40 | layer << 16 | mod << 1 | bit for i, _, _ in present]
                pruned = combine([p[2][ab] for p in present], w, spec, streams)
                stack = np.stack([pad(t, rank, axis) for t in pruned])
                weighted = stack * w.reshape(-1, 1, 1)
                if spec["strategy"] in ("linear", "dare_linear"):
                    merged = weighted.sum(axis=0)
                else:
                    merged = disjoint_merge(weighted, majority_sign_mask(stack, spec["majority_sign"]))
                out[f"layers.{layer}.{MODULES[mod]}.{ab}"] = merged.astype(np.float32)
    return out


if __name__ == "__main__":
    write_safetensors(sys.argv[2], merge(json.load(open(sys.argv[1]))))
