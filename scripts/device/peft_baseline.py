"""Hugging Face transformers + PEFT baseline for the CUDA benchmark: random BF16
Llamas of the Llama-3.2-1B and Llama-3-8B shapes, 0, 8 and 64 distinct rank-16
adapters (mixed batches through PEFT's adapter_names), decode tok/s at batch 1,
32 and 64 with a 512-token context and prefill tok/s of 512 tokens."""
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = [("Llama-3.2-1B", 2048, 16, 32, 8, 8192), ("Llama-3-8B", 4096, 32, 32, 8, 14336)]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CTX, PREFILL = 512, 512


def build(dim, layers, heads, kv, ffn, adapters):
    cfg = LlamaConfig(hidden_size=dim, num_hidden_layers=layers, num_attention_heads=heads,
                      num_key_value_heads=kv, intermediate_size=ffn, vocab_size=128256,
                      max_position_embeddings=4096, torch_dtype="bfloat16")
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    names = []
    for i in range(adapters):
        lc = LoraConfig(r=16, lora_alpha=32, target_modules=TARGETS, init_lora_weights=False)
        name = f"a{i}"
        if i == 0:
            model = get_peft_model(model, lc, adapter_name=name)
        else:
            model.add_adapter(name, lc)
        names.append(name)
    return model.to(torch.bfloat16), names


@torch.inference_mode()
def decode_tps(model, names, batch):
    ids = torch.randint(0, 128256, (batch, CTX), device="cuda")
    kw = {"adapter_names": [names[i % len(names)] for i in range(batch)]} if names else {}
    out = model(input_ids=ids, use_cache=True, **kw)
    past, nxt = out.past_key_values, ids[:, -1:]
    steps = 10
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        out = model(input_ids=nxt, past_key_values=past, use_cache=True, **kw)
        past = out.past_key_values
    torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t)


@torch.inference_mode()
def prefill_tps(model, names):
    ids = torch.randint(0, 128256, (1, PREFILL), device="cuda")
    kw = {"adapter_names": [names[0]]} if names else {}
    model(input_ids=ids, **kw)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(3):
        model(input_ids=ids, **kw)
    torch.cuda.synchronize()
    return 3 * PREFILL / (time.perf_counter() - t)


def main():
    print(f"{'model':13} {'adapters':9} {'phase':8} {'batch':>10} {'tok/s':>12}  (transformers + PEFT)")
    for name, *shape in SHAPES:
        for adapters in (0, 8, 64):
            try:
                model, names = build(*shape, adapters)
                for batch in (1, 32, 64):
                    print(f"{name:13} {adapters:<9} {'decode':8} {batch:>10} {decode_tps(model, names, batch):>12.0f}", flush=True)
                print(f"{name:13} {adapters:<9} {'prefill':8} {PREFILL:>10} {prefill_tps(model, names):>12.0f}", flush=True)
            except Exception as e:  # report and go on: the table is the product
                print(f"{name:13} {adapters:<9} failed: {type(e).__name__}: {e}", flush=True)
            finally:
                model = names = None
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
