"""One fine-tuning run of the protocol search (issue 13), as run for docs/calibration/
candidates.csv: the calibrated recipe below plus the candidate's overrides on the command line
(data.root of a SynthBias set generated at the candidate's bias, split, labels, epochs, seed).
Prints one JSON line. Example:

    python docs/calibration/finetune_candidate.py data.root=/tmp/b85/ucf101like \
        data.split=1 data.per_class=10 optim.epochs=60 run.seed=0
"""

import json
import sys
import time

from bepaper.config import FinetuneConfig, build_config
from bepaper.train import finetune

base = [
    "data.dataset=synthbias",
    "data.root=data/synthbias/default/ucf101like",
    "data.num_frames=8",
    "data.stride=2",
    "data.load_size=40",
    "data.workers=0",
    "data.cache=true",
    "augment.crop_size=32",
    "augment.eval_crop=0.8",
    "augment.jitter_prob=0.0",
    "model.backbone=r3d_small",
    "model.width=8",
    "model.dropout=0.0",
    "model.head_pool=max",
    "optim.optimizer=adamw",
    "optim.lr=0.001",
    "optim.weight_decay=0.05",
    "optim.schedule=cosine",
    "optim.batch_size=16",
    "eval.num_clips=4",
    "eval.splits=[1,2]",
    "run.root=runs/calibration",
    "run.device=cpu",
    "run.progress=false",
    "run.tensorboard=false",
]
cfg = build_config(FinetuneConfig, [], base + sys.argv[1:])
t = time.time()
r = finetune(cfg)
print(
    json.dumps(
        {
            "args": sys.argv[1:],
            "test": r["test_top1"],
            "train_acc": r["final"].get("acc"),
            "loss": r["final"]["loss"],
            "s": round(time.time() - t, 1),
        }
    )
)
