"""The model as a torch.fx graph: tracing, the unperturbed pass that caches every node's
value, and which nodes are local ops (each with the reason when it is not)."""
from __future__ import annotations

import operator
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from fastxai.engine.incremental.ops import Concat, Elementwise, LocalOp
from fastxai.engine.incremental.windows import window_op

_ELEMENTWISE_MODULES: Tuple[type, ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus,
    nn.Identity,
)
_EVAL_ONLY = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_ELEMENTWISE_FUNCTIONS: Set[Any] = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.neg,
    operator.iadd, operator.isub, operator.imul, operator.itruediv,
    torch.add, torch.sub, torch.mul, torch.div, torch.neg, torch.relu, torch.sigmoid, torch.tanh,
    torch.exp, torch.abs, torch.clamp,
    F.relu, F.relu6, F.leaky_relu, F.elu, F.selu, F.gelu, F.silu, F.mish, F.hardswish,
    F.hardsigmoid, F.hardtanh, F.sigmoid, F.tanh, F.softplus,
}
_ELEMENTWISE_METHODS = {
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "add", "add_", "sub", "sub_",
    "mul", "mul_", "div", "div_", "neg", "clamp", "clamp_", "exp", "abs",
}
_INPLACE_FUNCTIONS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.setitem}


def trace(model: Any) -> Tuple[Optional[fx.GraphModule], str]:
    """``torch.fx.symbolic_trace`` of ``model``, or (None, the reason it cannot be traced)."""
    if not isinstance(model, nn.Module):
        return None, f"forward_func is a {type(model).__name__}, not a torch.nn.Module (nothing to trace)"
    try:
        return fx.symbolic_trace(model), ""
    except Exception as e:  # noqa: BLE001 - any tracing failure means "use the full forward"
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"torch.fx cannot trace the model ({type(e).__name__}: {msg[:200]})"


def is_inplace(gm: fx.GraphModule, node: fx.Node) -> bool:
    """Whether the node writes into its first argument."""
    if node.op == "call_module":
        return bool(getattr(gm.get_submodule(str(node.target)), "inplace", False))
    if node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        if node.target in _INPLACE_FUNCTIONS or (name.endswith("_") and not name.startswith("__")):
            return True
        return bool(node.kwargs.get("inplace", False)) or (
            node.target in (F.relu, F.relu6, F.elu, F.selu, F.hardtanh, F.leaky_relu, F.silu,
                            F.hardswish, F.hardsigmoid, F.mish)
            and len(node.args) > 1 and node.args[-1] is True
        )
    if node.op == "call_method":
        return str(node.target).endswith("_") and not str(node.target).startswith("__")
    return False


def run_cached(gm: fx.GraphModule, x: Tensor) -> Tuple[Dict[fx.Node, Any], Any]:
    """Run the graph on the unperturbed input, keeping every node's value (in-place ops get a
    copy of the value they would overwrite, so cached values stay as computed).

    Returns: ({node: value}, model output).
    """
    values: Dict[fx.Node, Any] = {}
    placeholders = 0
    out: Any = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if placeholders == 0:
                values[node] = x
            elif node.args:
                values[node] = node.args[0]
            else:
                raise ValueError(f"the model's forward takes a required argument {node.target!r} besides the input")
            placeholders += 1
            continue
        if node.op == "output":
            out = fx.node.map_arg(node.args[0], values.__getitem__)
            break
        args = fx.node.map_arg(node.args, values.__getitem__)
        kwargs = fx.node.map_arg(node.kwargs, values.__getitem__)
        if is_inplace(gm, node) and args and isinstance(args[0], Tensor):
            args = (args[0].clone(),) + tuple(args[1:])
        values[node] = call_node(gm, node, args, kwargs)
    return values, out


def call_node(gm: fx.GraphModule, node: fx.Node, args: tuple, kwargs: dict) -> Any:
    """Execute one node with concrete arguments (fx.Interpreter's rules)."""
    if node.op == "call_module":
        return gm.get_submodule(str(node.target))(*args, **kwargs)
    if node.op == "call_function":
        return node.target(*args, **kwargs)  # type: ignore[operator]
    if node.op == "call_method":
        return getattr(args[0], str(node.target))(*args[1:], **kwargs)
    if node.op == "get_attr":
        obj: Any = gm
        for part in str(node.target).split("."):
            obj = getattr(obj, part)
        return obj
    raise ValueError(f"cannot execute node {node.name} ({node.op})")


def dynamic_nodes(gm: fx.GraphModule) -> Set[fx.Node]:
    """Nodes whose value depends on the first placeholder (the perturbed input)."""
    dyn: Set[fx.Node] = set()
    first = next((node for node in gm.graph.nodes if node.op == "placeholder"), None)
    if first is not None:
        dyn.add(first)
    for node in gm.graph.nodes:
        if any(a in dyn for a in node.all_input_nodes):
            dyn.add(node)
    return dyn


def _map_shape_ok(v: Any, n: int, r: int) -> bool:
    return isinstance(v, Tensor) and v.dim() == r + 2 and v.shape[0] == n and v.is_floating_point()


def classify(gm: fx.GraphModule, node: fx.Node, values: Dict[fx.Node, Any], dyn: Set[fx.Node],
             n: int, r: int) -> Tuple[Optional[LocalOp], str]:
    """The node as a local op, or (None, why not). Only nodes with dynamic inputs are asked."""
    out = values[node]
    what = _describe(gm, node)
    if not _map_shape_ok(out, n, r):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        return None, f"{what} gives {shape}, not a (N, C, {r} spatial dims) map"
    producers = [a for a in node.all_input_nodes if a in dyn]
    for p in producers:
        if not _map_shape_ok(values[p], n, r):
            return None, f"{what} reads {p.name}, which is not a (N, C, {r} spatial dims) map"
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        op, why = window_op(module, producers, values, node, r)
        if op is not None or why:
            return op, why or ""
        return _elementwise_module(module, node, producers, values, what)
    if node.op == "call_function" and node.target in (torch.cat, torch.concat):
        return _concat(node, producers, values, r, what)
    elementwise = (node.op == "call_function" and node.target in _ELEMENTWISE_FUNCTIONS) or (
        node.op == "call_method" and node.target in _ELEMENTWISE_METHODS
    )
    if elementwise:
        call = _caller(node)
        return _elementwise(node, producers, values, call, 1.0, what)
    return None, f"{what} is not a known local op (treated as global)"


def _describe(gm: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        return f"{node.target} ({type(gm.get_submodule(str(node.target))).__name__})"
    if node.op == "call_function":
        return f"{node.name} ({getattr(node.target, '__name__', node.target)})"
    return f"{node.name} (.{node.target}())"


def _caller(node: fx.Node) -> Callable[..., Any]:
    if node.op == "call_method":
        name = str(node.target)
        return lambda self, *a, **k: getattr(self, name)(*a, **k)
    return node.target  # type: ignore[return-value]


def _elementwise_module(module: nn.Module, node: fx.Node, producers: List[fx.Node],
                        values: Dict[fx.Node, Any], what: str) -> Tuple[Optional[LocalOp], str]:
    if isinstance(module, _BATCHNORM):
        if module.training and (module.running_mean is None or not module.track_running_stats):
            return None, f"{what} uses batch statistics (training mode), not per-position"
        if module.training:
            return None, f"{what} is in training mode (batch statistics)"
        return _elementwise(node, producers, values, module, 2.0, what)
    if isinstance(module, _EVAL_ONLY):
        if module.training:
            return None, f"{what} is in training mode (random)"
        return _elementwise(node, producers, values, module, 0.0, what)
    if isinstance(module, _ELEMENTWISE_MODULES):
        return _elementwise(node, producers, values, module, 1.0, what)
    return None, f"{what} is not a known local op (treated as global)"


def _elementwise(node: fx.Node, producers: List[fx.Node], values: Dict[fx.Node, Any],
                 call: Callable[..., Any], cost: float, what: str) -> Tuple[Optional[LocalOp], str]:
    out = values[node]
    for p in producers:
        if tuple(values[p].shape) != tuple(out.shape):
            return None, f"{what} broadcasts {p.name} of shape {tuple(values[p].shape)} to {tuple(out.shape)}"
    for a in node.all_input_nodes:
        if a in producers:
            continue
        v = values[a]
        if isinstance(v, Tensor) and v.dim() > 0:
            aligned = (1,) * (out.dim() - v.dim()) + tuple(v.shape)
            if len(aligned) != out.dim() or aligned[0] != 1 or any(s != 1 for s in aligned[2:]):
                return None, f"{what} mixes in {a.name} of shape {tuple(v.shape)}, which varies over space or batch"
    return Elementwise(node, producers, call, cost * out.shape[1]), ""


def _concat(node: fx.Node, producers: List[fx.Node], values: Dict[fx.Node, Any], r: int,
            what: str) -> Tuple[Optional[LocalOp], str]:
    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
    tensors = node.args[0] if node.args else node.kwargs.get("tensors")
    if dim not in (1, -(r + 1)) or not isinstance(tensors, (list, tuple)):
        return None, f"{what} concatenates along dim {dim}, not channels"
    if not all(isinstance(t, fx.Node) and t in producers for t in tensors):
        return None, f"{what} concatenates a constant or a non-map value"
    if len(set(tensors)) != len(tensors):
        return None, f"{what} concatenates one map twice"
    return Concat(list(tensors)), ""


def check_inplace(gm: fx.GraphModule) -> str:
    """A reason to refuse the model when an in-place op overwrites a value others still read."""
    for node in gm.graph.nodes:
        if is_inplace(gm, node) and node.args and isinstance(node.args[0], fx.Node):
            target = node.args[0]
            if len(target.users) > 1:
                return (f"{node.name} writes in place into {target.name}, which other ops also read "
                        "(cached values would not match the model)")
    return ""
