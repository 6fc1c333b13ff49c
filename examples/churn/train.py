"""Churn classifier: a small MLP trained with torch DistributedDataParallel (gloo, CPU or GPU).

Runs under torchrun (Kubeflow Trainer's torch runtime, or `kfconf run` locally). Reads the features the
Spark job wrote (parquet) from the dataset folder — $KFCONF_DATASET_DIR locally, /workspace/dataset in the
cluster — and writes a TorchScript model to the output folder ($KFCONF_OUTPUT_DIR, /workspace/output).
With no features found it trains on a small synthetic set (so the script runs anywhere).

Prints Katib's StdOut metrics format once per epoch on rank 0: `epoch=3 val_auc=0.8712 val_loss=0.4410`.
"""

from __future__ import annotations

import argparse
import glob
import json
import os

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


def load_features(root: str) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    sub = os.environ.get("FEATURES", "")
    for base in ([os.path.join(root, sub)] if sub else []) + [root]:
        files = sorted(glob.glob(os.path.join(base, "**", "*.parquet"), recursive=True))
        if files:
            import pandas as pd

            df = pd.concat([pd.read_parquet(f) for f in files]).sort_values("id")
            cols = [c for c in df.columns if c not in ("id", "label")]
            return df[cols].to_numpy(np.float32), df["label"].to_numpy(np.float32), cols
    return None


def synthetic(n: int = 2000, seed: int = 7) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    logit = x @ np.array([0.9, 0.4, 1.1, -0.8, 0.5, 0.7], np.float32) + rng.normal(scale=0.8, size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return x, y, [f"f{i}" for i in range(6)]


def auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve (Mann-Whitney U)."""
    order = torch.argsort(scores)
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=scores.dtype)
    pos = labels > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return 0.5
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo")
    torch.manual_seed(args.seed)
    dataset_dir = os.environ.get("KFCONF_DATASET_DIR", "/workspace/dataset")
    out_dir = os.environ.get("KFCONF_OUTPUT_DIR", "/workspace/output")
    found = load_features(dataset_dir) if os.path.isdir(dataset_dir) else None
    x, y, cols = found if found is not None else synthetic()
    if rank == 0:
        print(f"data: {len(x)} rows, {len(cols)} features from "
              f"{dataset_dir if found is not None else 'a synthetic set'}", flush=True)
    n_val = max(1, len(x) // 5)
    xt, yt = torch.from_numpy(x[n_val:]), torch.from_numpy(y[n_val:])
    xv, yv = torch.from_numpy(x[:n_val]), torch.from_numpy(y[:n_val])
    xt, yt = xt[rank::world], yt[rank::world]  # this rank's shard

    model: nn.Module = nn.Sequential(nn.Linear(len(cols), args.hidden), nn.ReLU(), nn.Linear(args.hidden, 1))
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        net.train()
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i: i + args.batch_size]
            opt.zero_grad()
            loss = loss_fn(net(xt[idx]).squeeze(1), yt[idx])
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            logits = model(xv).squeeze(1)
            val_loss = float(loss_fn(logits, yv))
            val_auc = auc(logits, yv)
        if rank == 0:
            print(f"epoch={epoch} val_auc={val_auc:.4f} val_loss={val_loss:.4f}", flush=True)

    if rank == 0:
        os.makedirs(out_dir, exist_ok=True)
        torch.jit.script(model).save(os.path.join(out_dir, "model.pt"))
        with open(os.path.join(out_dir, "model.json"), "w") as fh:
            json.dump({"features": cols, "framework": "pytorch", "input": [len(cols)],
                       "example": x[:2].round(4).tolist(), "val_auc": val_auc}, fh, indent=2)
        print(f"saved {out_dir}/model.pt", flush=True)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
