"""Hugging Face PEFT + transformers reference for engine/train (CPU, float32).

Modes (argv[1]):
  train SPEC.json  replays the exact steps Graft took (same initial adapter,
                   same micro-batches, same optimiser settings) and writes
                   per-step losses, the final adapter and greedy outputs.
  bench SPEC.json  times LoRA training steps on a model and prints tokens/s.
Output is one JSON object on stdout.
"""
import json
import math
import sys
import time

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup


START = time.perf_counter()


def log(msg):
    print(f"[{time.perf_counter() - START:7.1f}s] {msg}", file=sys.stderr, flush=True)


def load(spec):
    torch.manual_seed(0)
    torch.set_num_threads(spec.get("threads", 2))
    model = AutoModelForCausalLM.from_pretrained(spec["base"], torch_dtype=torch.float32, attn_implementation="eager")
    model = PeftModel.from_pretrained(model, spec["init_adapter"], is_trainable=True)
    return model


def micro_loss(model, micro):
    """Summed cross-entropy of one micro-batch (right-padded), and its token count."""
    width = max(len(s["tokens"]) for s in micro)
    ids = torch.zeros((len(micro), width), dtype=torch.long)
    mask = torch.zeros((len(micro), width), dtype=torch.long)
    labels = torch.full((len(micro), width), -100, dtype=torch.long)
    for i, s in enumerate(micro):
        n = len(s["tokens"])
        ids[i, :n] = torch.tensor(s["tokens"])
        mask[i, :n] = 1
        labels[i, :n] = torch.tensor(s["targets"]).clamp(min=-100)
    labels[labels < 0] = -100
    logits = model(input_ids=ids, attention_mask=mask).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="sum")
    return loss, int(mask.sum())


def schedule(opt, spec):
    kind, warm, total = spec["schedule"], spec["warmup"], spec["total_steps"]
    if kind == "cosine":
        return get_cosine_schedule_with_warmup(opt, warm, total)
    if kind == "constant":
        return get_constant_schedule_with_warmup(opt, warm)
    return get_linear_schedule_with_warmup(opt, warm, total)


def train(spec):
    model = load(spec)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=spec["weight_decay"], foreach=False)
    sched = schedule(opt, spec)
    losses = []
    for step in spec["steps"]:
        opt.zero_grad()
        count = sum(sum(1 for t in s["targets"] if t >= 0) for micro in step for s in micro)
        total = 0.0
        for micro in step:
            loss, _ = micro_loss(model, micro)
            (loss / count).backward()
            total += loss.item()
        if spec["max_grad_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(params, spec["max_grad_norm"])
        opt.step()
        sched.step()
        losses.append(total / count)
        log(f"step {len(losses)}: loss {losses[-1]:.5f}")
    model.save_pretrained(spec["out_adapter"])
    log("trained; decoding")
    model.eval()
    out = {"losses": losses, "greedy": greedy(model, spec["prompts"], spec["greedy_tokens"])}
    if spec.get("graft_adapter"):
        base = AutoModelForCausalLM.from_pretrained(spec["base"], torch_dtype=torch.float32, attn_implementation="eager")
        theirs = PeftModel.from_pretrained(base, spec["graft_adapter"])
        theirs.eval()
        out["graft_adapter_greedy"] = greedy(theirs, spec["prompts"], spec["greedy_tokens"])
    return out


@torch.no_grad()
def greedy(model, prompts, n):
    """n argmax tokens after each prompt, never stopping at EOS (like Graft's IgnoreEOS)."""
    outs = []
    for p in prompts:
        ids = list(p)
        for _ in range(n):
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
            ids.append(int(torch.argmax(logits)))
        outs.append(ids[len(p):])
    return outs


def bench(spec):
    model = load(spec)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    micro = spec["batch"]

    def one():
        opt.zero_grad()
        count = sum(sum(1 for t in s["targets"] if t >= 0) for s in micro)
        loss, tokens = micro_loss(model, micro)
        (loss / count).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return tokens

    one()  # warm-up
    tokens, start, cpu = 0, time.perf_counter(), time.process_time()
    for _ in range(spec["steps"]):
        tokens += one()
    secs = time.perf_counter() - start
    cpu = time.process_time() - cpu
    return {"tokens_per_s": tokens / secs, "tokens_per_cpu_s": tokens / cpu, "seconds": secs, "tokens": tokens,
            "torch": torch.__version__, "threads": torch.get_num_threads()}


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        spec = json.load(f)
    result = train(spec) if mode == "train" else bench(spec)
    json.dump(result, sys.stdout)
