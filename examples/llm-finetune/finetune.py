"""LoRA fine-tune of a causal language model on support tickets (torch, DistributedDataParallel).

Runs under torchrun (the Trainer's torch runtime, or `kfconf run` locally). The model initializer puts the
base model in /workspace/model ($KFCONF_MODEL_DIR locally) and the dataset initializer the tickets in
/workspace/dataset ($KFCONF_DATASET_DIR): JSON lines with `prompt` and `response`. The fine-tuned model is
written to /workspace/output ($KFCONF_OUTPUT_DIR): the LoRA weights merged into the base model.

Two kinds of base model:
  * `model_type: kfconf-tiny-gpt` — the tiny byte-level GPT the example ships as a local stand-in (weights
    initialised from the config's seed). Output: TorchScript `model.pt` (token ids → logits), served by
    `kfconf run` locally.
  * anything else — a Hugging Face checkpoint (e.g. Qwen2.5-0.5B in the cluster) through `transformers`
    (needed then; not part of the local engines). Output: `save_pretrained` of the merged model.

Prints Katib's StdOut metrics format on rank 0: `epoch=1 loss=2.31 perplexity=10.1`.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F


class LoRALinear(nn.Module):
    """y = W x + (B A x) · alpha/r, with W frozen and A, B trained."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float = 16.0) -> None:
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale

    def merged(self) -> nn.Linear:
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + (self.lora_b @ self.lora_a) * self.scale)
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out


class Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv: nn.Module = nn.Linear(d, 3 * d)
        self.proj: nn.Module = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q = q.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        k = k.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, n_layer: int, n_head: int, max_len: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList([Block(d_model, n_head) for _ in range(n_layer)])
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.tok(ids) + self.pos(pos)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


def load_tickets(root: str) -> list[str]:
    texts = []
    for f in sorted(glob.glob(os.path.join(root, "**", "*.jsonl"), recursive=True)):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    texts.append(f"Q: {row['prompt']}\nA: {row['response']}\n")
    return texts


def batches(texts: list[str], max_len: int, batch_size: int, rank: int, world: int, seed: int) -> list[Any]:
    seqs = [torch.tensor(list(t.encode("utf-8"))[:max_len], dtype=torch.long) for t in texts][rank::world]
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(seqs), generator=g).tolist()
    out = []
    for i in range(0, len(order), batch_size):
        chunk = [seqs[j] for j in order[i: i + batch_size]]
        n = max(len(s) for s in chunk)
        ids = torch.zeros(len(chunk), n, dtype=torch.long)
        mask = torch.zeros(len(chunk), n, dtype=torch.bool)
        for r, s in enumerate(chunk):
            ids[r, : len(s)] = s
            mask[r, : len(s)] = True
        out.append((ids, mask))
    return out


def tiny(cfg: dict[str, Any], args: argparse.Namespace, texts: list[str], rank: int, world: int,
         out_dir: str) -> None:
    torch.manual_seed(int(cfg.get("seed", 0)))
    model = TinyGPT(cfg["vocab_size"], cfg["d_model"], cfg["n_layer"], cfg["n_head"], cfg["max_len"])
    weights = os.path.join(args.model_dir, "pytorch_model.bin")
    if os.path.isfile(weights):
        model.load_state_dict(torch.load(weights, map_location="cpu"))
    for p in model.parameters():
        p.requires_grad_(False)
    torch.manual_seed(args.seed)
    for blk in model.blocks:
        assert isinstance(blk, Block)
        blk.qkv = LoRALinear(blk.qkv, args.lora_rank)  # type: ignore[arg-type]
        blk.proj = LoRALinear(blk.proj, args.lora_rank)  # type: ignore[arg-type]
    trainable = [p for p in model.parameters() if p.requires_grad]
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.AdamW(trainable, lr=args.lr)
    n_params = sum(p.numel() for p in model.parameters())
    if rank == 0:
        print(f"model: {cfg['model_type']} ({n_params} parameters, {sum(p.numel() for p in trainable)} "
              f"trained), {len(texts)} tickets", flush=True)
    for epoch in range(1, args.epochs + 1):
        total, count = 0.0, 0
        for ids, mask in batches(texts, cfg["max_len"], args.batch_size, rank, world, args.seed + epoch):
            logits = net(ids[:, :-1])
            target = ids[:, 1:].masked_fill(~mask[:, 1:], -100)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + float(loss), count + 1
        stats = torch.tensor([total, float(count)])
        if world > 1:
            dist.all_reduce(stats)
        mean = float(stats[0] / max(stats[1], 1.0))
        if rank == 0:
            print(f"epoch={epoch} loss={mean:.4f} perplexity={math.exp(min(mean, 50)):.3f}", flush=True)
    if rank != 0:
        return
    for blk in model.blocks:
        assert isinstance(blk, Block)
        adapters = {"qkv": blk.qkv, "proj": blk.proj}
        blk.qkv = adapters["qkv"].merged()  # type: ignore[operator]
        blk.proj = adapters["proj"].merged()  # type: ignore[operator]
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    torch.jit.script(model).save(os.path.join(out_dir, "model.pt"))
    with open(os.path.join(out_dir, "config.json"), "w") as fh:
        json.dump({**cfg, "lora_rank": args.lora_rank, "fine_tuned_epochs": args.epochs}, fh, indent=2)
    with open(os.path.join(out_dir, "tokenizer.json"), "w") as fh:
        json.dump({"type": "bytes", "encoding": "utf-8"}, fh)
    example = list(b"Q: I can't log in\nA:")
    with open(os.path.join(out_dir, "model.json"), "w") as fh:
        json.dump({"framework": "pytorch", "input": "int64 token ids [batch, tokens] (UTF-8 bytes)",
                   "output": "logits [batch, tokens, 256]", "example": [example]}, fh, indent=2)
    print(f"saved {out_dir}/model.pt", flush=True)


def hugging_face(args: argparse.Namespace, texts: list[str], rank: int, world: int, out_dir: str) -> None:
    """A real checkpoint: LoRA on the attention projections of a transformers causal LM."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model_dir)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, torch_dtype=torch.float32)
    for p in model.parameters():
        p.requires_grad_(False)
    targets = ("q_proj", "v_proj")
    wrapped: dict[str, LoRALinear] = {}
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                lora = LoRALinear(child, args.lora_rank)
                setattr(module, child_name, lora)
                wrapped[f"{name}.{child_name}"] = lora
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if torch.cuda.is_available() \
        else torch.device("cpu")
    model.to(device)
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    mine = texts[rank::world]
    for epoch in range(1, args.epochs + 1):
        total, count = 0.0, 0
        for i in range(0, len(mine), args.batch_size):
            enc = tok(mine[i: i + args.batch_size], return_tensors="pt", padding=True, truncation=True,
                      max_length=512).to(device)
            labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
            loss = net(**enc, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + float(loss), count + 1
        stats = torch.tensor([total, float(count)], device=device)
        if world > 1:
            dist.all_reduce(stats)
        mean = float(stats[0] / max(float(stats[1]), 1.0))
        if rank == 0:
            print(f"epoch={epoch} loss={mean:.4f} perplexity={math.exp(min(mean, 50)):.3f}", flush=True)
    if rank == 0:
        for name, lora in wrapped.items():
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, lora.merged())
        model.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)
        print(f"saved {out_dir}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-dir", default=os.environ.get("KFCONF_MODEL_DIR", "/workspace/model"))
    p.add_argument("--dataset-dir", default=os.environ.get("KFCONF_DATASET_DIR", "/workspace/dataset"))
    p.add_argument("--output-dir", default=os.environ.get("KFCONF_OUTPUT_DIR", "/workspace/output"))
    args = p.parse_args()
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    texts = load_tickets(args.dataset_dir)
    if not texts:
        raise SystemExit(f"no tickets (*.jsonl with prompt/response) under {args.dataset_dir}")
    with open(os.path.join(args.model_dir, "config.json"), encoding="utf-8") as fh:
        cfg = json.load(fh)
    if cfg.get("model_type") == "kfconf-tiny-gpt":
        tiny(cfg, args, texts, rank, world, args.output_dir)
    else:
        hugging_face(args, texts, rank, world, args.output_dir)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
