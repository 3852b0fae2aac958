"""
The PyTorch baseline of `npm run bench` (issue 13): the eager fp32 forward a user would write to get the routing
of a DeepSeekMoE (v1, `model_type: deepseek`) checkpoint, in the style of Hugging Face's modeling_deepseek.py:
all prompts in one right-padded batch, attention with a causal + padding mask, and the MoE layer as a loop over
experts over the tokens that chose each one. Every decoder layer runs in full (experts of the last MoE layer
too) and the final norm; the LM head does not (routing does not need it). Weights are memory-mapped from the
safetensors shards (header parsed here, data through numpy.memmap) and turned into fp32 one layer at a time.

  python3 bench/torch-baseline.py MODEL_DIR TOKENS_JSON     (TOKENS_JSON: [[token ids of prompt 1], ...])

Prints one JSON line: tokens, padded batch shape, seconds of forward, peak RSS, and the top-k experts of every
real token at every MoE layer (so the bench can compare them with the trace). No network, no transformers.
"""
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch


def open_checkpoint(model_dir):
    """tensor name -> (memmap of the raw bytes, dtype, shape), through model.safetensors.index.json or one file."""
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["model.safetensors"]
    tensors = {}
    for shard in shards:
        path = os.path.join(model_dir, shard)
        with open(path, "rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(header_len))
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_len)
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            tensors[name] = (data[begin:end], entry["dtype"], entry["shape"])
    return tensors


def weight(tensors, name):
    raw, dtype, shape = tensors[name]
    if dtype == "BF16":
        return torch.from_numpy(np.array(raw).view(np.int16)).view(torch.bfloat16).float().reshape(shape)
    if dtype == "F32":
        return torch.from_numpy(np.array(raw).view(np.float32)).reshape(shape)
    raise SystemExit(f"torch-baseline: tensor {name} is {dtype}; only BF16 and F32 are supported")


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def main():
    model_dir, tokens_file = sys.argv[1], sys.argv[2]
    torch.set_num_threads(os.cpu_count())
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    if config.get("model_type") != "deepseek":
        print(json.dumps({"skipped": f"model_type {config.get('model_type')}: the baseline implements DeepSeekMoE v1 only"}))
        return
    with open(tokens_file) as f:
        prompts = json.load(f)
    started = time.perf_counter()
    tensors = open_checkpoint(model_dir)
    H, heads = config["hidden_size"], config["num_attention_heads"]
    D = H // heads
    eps, K, E = config["rms_norm_eps"], config["num_experts_per_tok"], config["n_routed_experts"]
    B, S = len(prompts), max(len(p) for p in prompts)

    with torch.no_grad():
        ids = torch.zeros(B, S, dtype=torch.long)
        valid = torch.zeros(B, S, dtype=torch.bool)
        for b, p in enumerate(prompts):
            ids[b, : len(p)] = torch.tensor(p)
            valid[b, : len(p)] = True
        embedding = tensors["model.embed_tokens.weight"]
        # Only the rows used are converted to fp32 (HF's fp32 load would convert the whole table): this favours
        # the baseline.
        rows = torch.from_numpy(np.array(embedding[0]).view(np.int16)).view(torch.bfloat16).reshape(embedding[2])
        h = rows[ids].float()

        inv_freq = 1.0 / (config.get("rope_theta", 10000) ** (torch.arange(0, D, 2).float() / D))
        freqs = torch.outer(torch.arange(S).float(), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        causal = torch.tril(torch.ones(S, S, dtype=torch.bool))
        mask = torch.zeros(B, 1, S, S)
        mask.masked_fill_(~(causal[None, None] & valid[:, None, None, :]), torch.finfo(torch.float32).min)

        routing = []
        for layer in range(config["num_hidden_layers"]):
            p = f"model.layers.{layer}."
            w = lambda n: weight(tensors, p + n)
            # attention
            x = rms_norm(h, w("input_layernorm.weight"), eps)
            q = (x @ w("self_attn.q_proj.weight").T).view(B, S, heads, D).transpose(1, 2)
            k = (x @ w("self_attn.k_proj.weight").T).view(B, S, heads, D).transpose(1, 2)
            v = (x @ w("self_attn.v_proj.weight").T).view(B, S, heads, D).transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            scores = torch.softmax(q @ k.transpose(2, 3) / D**0.5 + mask, dim=-1)
            h = h + (scores @ v).transpose(1, 2).reshape(B, S, H) @ w("self_attn.o_proj.weight").T
            # feed-forward
            x = rms_norm(h, w("post_attention_layernorm.weight"), eps)
            mlp = lambda t, g, u, d: (torch.nn.functional.silu(t @ g.T) * (t @ u.T)) @ d.T
            if layer < config["first_k_dense_replace"]:
                h = h + mlp(x, w("mlp.gate_proj.weight"), w("mlp.up_proj.weight"), w("mlp.down_proj.weight"))
                continue
            flat = x.reshape(-1, H)
            probs = torch.softmax(flat @ w("mlp.gate.weight").T, dim=-1)
            topk_weight, topk_idx = torch.topk(probs, K, dim=-1, sorted=False)
            routing.append(topk_idx.view(B, S, K)[valid].tolist())
            out = torch.zeros_like(flat)
            flat_idx = topk_idx.view(-1)
            for e in range(E):
                rows_e = (flat_idx == e).nonzero().squeeze(-1)
                if rows_e.numel() == 0:
                    continue
                token = rows_e // K
                y = mlp(flat[token], w(f"mlp.experts.{e}.gate_proj.weight"), w(f"mlp.experts.{e}.up_proj.weight"), w(f"mlp.experts.{e}.down_proj.weight"))
                out.index_add_(0, token, y * topk_weight.view(-1)[rows_e, None])
            shared = mlp(flat, w("mlp.shared_experts.gate_proj.weight"), w("mlp.shared_experts.up_proj.weight"), w("mlp.shared_experts.down_proj.weight"))
            h = h + (out + shared).view(B, S, H)
        h = rms_norm(h, weight(tensors, "model.norm.weight"), eps) if "model.norm.weight" in tensors else h

    seconds = time.perf_counter() - started
    print(json.dumps({
        "tokens": int(valid.sum()),
        "batch": [B, S],
        "forwardSeconds": seconds,
        "maxRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "topkIds": routing,
    }))


main()
