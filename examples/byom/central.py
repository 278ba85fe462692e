"""Trains a saved TorchScript model centrally on the pooled training data:
the baseline a federated run of the same model, data and epochs is judged
against. Writes the trained weights (a qfleet container) and a JSON summary.

  central.py --model model.pt --train DIR --eval DIR --test DIR --epochs N
             --loss L --metric M [--lr --batch-size --momentum --seed]
             --out-json FILE --out-container FILE
"""
import argparse
import json
import time

import torch

import qfleet
from tasks import evaluate, load, train


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--loss", default="cross_entropy")
    ap.add_argument("--metric", default="accuracy")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out-json", required=True)
    ap.add_argument("--out-container", required=True)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    module = torch.jit.load(a.model)
    X, y = load(a.train)
    start = time.time()
    epochs = []
    for epoch in range(1, a.epochs + 1):
        train(module, X, y, a.loss, 1, a.batch_size, a.lr, a.momentum, a.seed * 1000 + epoch)
        epochs.append({"epoch": epoch, a.metric: evaluate(module, a.eval, a.metric)})
        print(f"central epoch {epoch}: eval {a.metric} {epochs[-1][a.metric]:.4f}", flush=True)
    result = {"metric": a.metric, "epochs": epochs, "seconds": round(time.time() - start, 1),
              "eval": epochs[-1][a.metric], "test": evaluate(module, a.test, a.metric)}
    qfleet.write_container(a.out_container, qfleet.container_from_module(module))
    with open(a.out_json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"central: test {a.metric} {result['test']:.4f} after {a.epochs} epochs "
          f"({result['seconds']} s)")


if __name__ == "__main__":
    main()
