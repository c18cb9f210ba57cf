"""``backprop predict``: the target of each row of a CSV file, from a saved model."""

from __future__ import annotations

import argparse
import json
from typing import Any

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


def cmd_predict(args: argparse.Namespace) -> int:
    from ..checkpoint import CheckpointError, load_checkpoint
    from ..data import DataError, read_features
    from ..predict import predict

    try:
        ckpt = load_checkpoint(args.model)
    except CheckpointError as e:
        raise Failure(str(e)) from None
    info = ckpt.info
    features, target, task = info.get("feature_names"), info.get("target_name"), info.get("task")
    if "words" in info:
        raise Failure(
            f"{args.model} holds a word-list model (backprop train --data words…); predict "
            "takes a model trained on a table"
        )
    if not (isinstance(features, list) and task in ("classification", "regression")):
        raise Failure(f"{args.model} holds no column names; save it with backprop train --save")
    model = ckpt.model
    dtype = model.parameters()[0].dtype
    try:
        X = read_features(args.data, features, target, dtype=dtype)
    except DataError as e:
        raise Failure(str(e)) from None
    try:
        p = predict(ckpt, X)
    except ValueError as e:
        raise Failure(f"{args.model}: {e}") from None
    if args.json:
        result: dict[str, Any] = {"model": args.model, "data": args.data, "task": p.task}
        result["target"] = target
        if p.task == "classification":
            result["classes"] = p.classes
            if p.class_names:
                result["class_names"] = p.class_names
        result["predictions"] = p.predictions
        if p.predicted_names:
            result["predicted_names"] = p.predicted_names
        if p.probabilities is not None:
            result["probabilities"] = p.probabilities
        print(json.dumps(result))
    elif p.task == "classification":
        print("\n".join(str(v) for v in p.predictions))
    else:
        rows = [v if isinstance(v, list) else [v] for v in p.predictions]
        print("\n".join(" ".join(repr(float(x)) for x in row) for row in rows))
    return 0
