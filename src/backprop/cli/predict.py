"""``backprop predict``: the target of each row of a CSV file, from a saved model."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from .common import Failure


def add_predict_parser(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="predict the target of each row of a CSV file with a saved model",
        description="Load a checkpoint written by backprop train --save and print one "
        "prediction per row of a CSV file: the class label, or the value. The CSV needs a "
        "header row naming every feature column the model was trained on (in any order); "
        "the target column may be present and is then ignored.",
    )
    p.add_argument("--model", required=True, metavar="PATH.npz", help="a checkpoint")
    p.add_argument("--data", required=True, metavar="PATH.csv", help="the rows to predict")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: predictions (and class probabilities)",
    )
    p.set_defaults(func=cmd_predict)


def format_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def cmd_predict(args: argparse.Namespace) -> int:
    from ..checkpoint import CheckpointError, load_checkpoint
    from ..data import DataError, read_features

    try:
        ckpt = load_checkpoint(args.model)
    except CheckpointError as e:
        raise Failure(str(e)) from None
    info = ckpt.info
    features, target, task = info.get("feature_names"), info.get("target_name"), info.get("task")
    if not (isinstance(features, list) and task in ("classification", "regression")):
        raise Failure(f"{args.model} holds no column names; save it with backprop train --save")
    try:
        X = read_features(args.data, features, target)
    except DataError as e:
        raise Failure(str(e)) from None
    if ckpt.scaler is not None:
        X = ckpt.scaler.transform(X)
    model = ckpt.model
    out = model(X.astype(model.parameters()[0].dtype)).astype(np.float64)
    result: dict[str, Any] = {"model": args.model, "data": args.data, "task": task}
    result["target"] = target
    if task == "classification":
        try:
            classes = np.asarray(info.get("classes", []), dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise Failure(f"{args.model}: its class labels are not numbers") from None
        if classes.size != out.shape[1]:
            raise Failure(f"{args.model}: {classes.size} classes for {out.shape[1]} outputs")
        index = np.argmax(out, axis=1)
        labels = [format_label(v) for v in classes[index]]
        result["predictions"] = [int(v) if v.is_integer() else v for v in classes[index].tolist()]
        names = info.get("class_names") or []
        if len(names) == classes.size:
            result["class_names"] = [names[i] for i in index]
        if info.get("train", {}).get("loss") == "cross_entropy":
            shifted = np.exp(out - out.max(axis=1, keepdims=True))
            result["probabilities"] = (shifted / shifted.sum(axis=1, keepdims=True)).tolist()
        lines = labels
    else:
        values = out if ckpt.target_scaler is None else ckpt.target_scaler.inverse(out)
        result["predictions"] = values[:, 0].tolist() if values.shape[1] == 1 else values.tolist()
        lines = [" ".join(repr(float(v)) for v in row) for row in values]
    if args.json:
        print(json.dumps(result))
    else:
        print("\n".join(lines))
    return 0
