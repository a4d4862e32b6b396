"""``fastxai compat``: run a method from Captum and from fastxai on your model; compare.

Examples::

    fastxai compat --method IntegratedGradients --model builtin:small_cnn --inputs shape:4,1,28,28 --target 1
    fastxai compat --method LayerGradCam --model mypkg.models:build --layer features.3 \\
        --inputs batch.pt --kwargs '{"target": 0}' --json

``--model``: ``builtin:<name>`` (``fastxai.models``), ``module.path:attr`` (a module or a
callable returning one) or a TorchScript file. ``--inputs``: ``shape:N,C,H,W`` (standard normal,
``--seed``) or a file holding a tensor or a tuple of tensors (``torch.save``).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
from typing import Any

import torch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The method, model, inputs and attribute / constructor arguments; tolerance and repeats."""
    parser.add_argument("--method", help="class name in both libraries, or Wrapper(Inner), e.g. NoiseTunnel(Saliency)")
    parser.add_argument("--list", action="store_true", help="list the methods both libraries have")
    parser.add_argument("--model", help="builtin:<name> | module.path:attr | TorchScript file")
    parser.add_argument("--model-kwargs", default="{}", help="JSON keyword arguments for a builtin or a factory")
    parser.add_argument("--inputs", help="shape:N,C,H,W | file with a tensor or tuple of tensors (torch.save)")
    parser.add_argument("--target", type=int, default=None, help="target class for every example")
    parser.add_argument("--layer", default=None, help="dotted path of a layer of the model (Layer* methods)")
    parser.add_argument("--kwargs", default="{}", help="JSON attribute() arguments for both libraries")
    parser.add_argument("--fastxai-kwargs", default="{}", help="JSON attribute() arguments for fastxai only")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per library (interleaved)")
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def load_model(spec: str, model_kwargs: dict) -> Any:
    """A model from ``builtin:<name>``, ``module.path:attr`` or a TorchScript file, in eval mode."""
    if spec.startswith("builtin:"):
        from fastxai.models import get_model

        model = get_model(spec.split(":", 1)[1], **model_kwargs)
    elif os.path.exists(spec):
        model = torch.jit.load(spec, map_location="cpu")
    elif ":" in spec:
        module, attr = spec.rsplit(":", 1)
        obj = getattr(importlib.import_module(module), attr)
        model = obj if isinstance(obj, torch.nn.Module) else obj(**model_kwargs)
    else:
        raise ValueError(f"--model: expected builtin:<name>, module.path:attr or a file, got {spec!r}")
    return model.eval() if isinstance(model, torch.nn.Module) else model


def load_inputs(spec: str, seed: int) -> Any:
    """Inputs from ``shape:N,C,...`` (standard normal) or a ``torch.save`` file."""
    if spec.startswith("shape:"):
        try:
            shape = [int(s) for s in spec.split(":", 1)[1].split(",")]
        except ValueError as err:
            raise ValueError(f"--inputs: expected shape:N,C,H,W with integers, got {spec!r}") from err
        return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    if not os.path.exists(spec):
        raise ValueError(f"--inputs: no file {spec!r} (or use shape:N,C,H,W)")
    data = torch.load(spec, map_location="cpu", weights_only=True)
    return tuple(data) if isinstance(data, list) else data


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 0 when the numbers agree, 1 when they differ, 2 on a usage error."""
    from fastxai import compat

    try:
        if args.list:
            print("\n".join(compat.method_names()))
            return 0
        missing = [o for o in ("method", "model", "inputs") if getattr(args, o) is None]
        if missing:
            raise ValueError("missing " + ", ".join(f"--{o}" for o in missing))
        model = load_model(args.model, json.loads(args.model_kwargs))
        inputs = load_inputs(args.inputs, args.seed)
        kwargs = json.loads(args.kwargs)
        if args.target is not None:
            kwargs["target"] = args.target
        init = {}
        if args.layer:
            from functools import reduce

            init["layer"] = reduce(getattr, args.layer.split("."), model)
        report = compat.check(args.method, model, inputs, repeats=args.repeats, rtol=args.rtol, atol=args.atol,
                              seed=args.seed, init_kwargs=init, fastxai_kwargs=json.loads(args.fastxai_kwargs),
                              **kwargs)
    except (compat.CaptumNotInstalled, ValueError, AttributeError) as err:
        print(f"fastxai compat: {err}")
        return 2
    print(json.dumps(report.as_dict(), indent=2) if args.json else report)
    return 0 if report.close else 1
