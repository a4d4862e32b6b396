"""Captum's summary statistics (``captum.attr._utils.stat``) as mergeable metric states.

Each ``Stat`` is a :class:`fastxai.eval.state.Metric`: its partial results are ``cat`` states
holding one row per accumulation (see :mod:`.moments`), so two summaries built on different
shards ``merge`` (rows concatenated, then combined in order by ``get``), pickle, and ``sync``
across ``torch.distributed`` ranks like every evaluator metric.

Semantics are Captum 0.9's: one ``update(x)`` adds ONE observation ``x`` (*S) (``Count``
counts updates); ``get()`` returns None before the first update; ``Mean`` / ``MSE`` keep a
floating dtype (float64 for integer input), ``Var`` / ``StdDev`` return float64 ``m2 / (n -
order)`` (zeros in the mean's dtype while ``n <= order``), ``Min`` / ``Max`` / ``Sum`` keep the
input's dtype (type promotion over updates), ``Count`` returns a Python int. Additions:
``update_batch(xs)`` adds the N rows of ``xs`` (N, *S) as N observations in one vectorised
step (equal to N ``update`` calls up to float rounding), ``merge(other)``, ``reset()``.
Moments are accumulated in float64 (Captum accumulates in the input's dtype), so float32
results agree with Captum's to float32 rounding.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, TypeVar, Union

import torch
from torch import Tensor

from fastxai._captum.errors import InputError
from fastxai.attr.summary import moments as M
from fastxai.eval.state import Metric

if TYPE_CHECKING:
    from fastxai.attr.summary.summarizer import SummarizerSingleTensor

StatValue = Union[Tensor, int, float]
_S = TypeVar("_S", bound="Stat")


class Stat(Metric):
    """A statistic updated one observation at a time and read with ``get()``.

    Captum's contract: ``name`` (the key in a summary: the custom ``name`` or the lower-case
    class name plus its parameters), ``params`` (the constructor keywords; two stats are equal
    and hash alike when class and params agree), ``init()`` (look up dependencies through the
    owning :class:`SummarizerSingleTensor`), ``update(x)``, ``get()``.
    """

    def __init__(self, name: Optional[str] = None, **kwargs: Any) -> None:
        Metric.__init__(self)
        self.params: Dict[str, Any] = kwargs
        self._name = name
        self._other_stats: Optional["SummarizerSingleTensor"] = None

    def init(self) -> None:
        """Resolve dependencies on other stats (called by the owning summarizer)."""

    def _get_stat(self, stat: _S) -> Optional[_S]:
        if self._other_stats is None:
            raise InputError(f"{type(self).__name__} reads other statistics: use it inside a Summarizer")
        return self._other_stats.get(stat)  # type: ignore[return-value]

    def update(self, x: Tensor) -> None:
        """Add one observation ``x`` (*S)."""
        self.update_batch(x.unsqueeze(0))

    def update_batch(self, xs: Tensor) -> None:  # pragma: no cover - abstract
        """Add the N rows of ``xs`` (N, *S) as N observations."""
        raise NotImplementedError

    def get(self) -> Optional[StatValue]:  # pragma: no cover - abstract
        """The statistic over every observation so far (None before the first)."""
        raise NotImplementedError

    def compute(self) -> Optional[StatValue]:
        """Same as ``get()`` (the evaluator's metric protocol)."""
        return self.get()

    def settings(self) -> Dict[str, Any]:
        """The constructor parameters: stats with different ones refuse to merge."""
        return dict(self.params)

    def __hash__(self) -> int:
        return hash((self.__class__, frozenset(self.params.items())))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Stat):
            return self.__class__ == other.__class__ and frozenset(self.params.items()) == frozenset(
                other.params.items()
            )
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    @property
    def name(self) -> str:
        """The key of this statistic in a summary."""
        default = self.__class__.__name__.lower()
        if self.params:
            default += f"({self.params})"
        return default if self._name is None else self._name


def _check_rows(stat: Stat, rows: List[Tensor], xs: Tensor) -> None:
    if not isinstance(xs, Tensor) or xs.dim() < 1:
        raise InputError(f"{type(stat).__name__}.update_batch: xs must be a tensor (N, *S), got {type(xs).__name__}")
    if rows and tuple(rows[-1].shape[1:]) != tuple(xs.shape[1:]):
        raise InputError(
            f"{type(stat).__name__}.update: x has shape {tuple(xs.shape[1:])} but earlier updates had "
            f"{tuple(rows[-1].shape[1:])}; summarise one tensor shape per statistic"
        )


class Count(Stat):
    """The number of observations (``update`` calls); ``get()`` is an int (None before any)."""

    def __init__(self, name: Optional[str] = None) -> None:
        super().__init__(name=name)
        self.add_state("n", torch.zeros((), dtype=torch.int64), "sum")

    def update_batch(self, xs: Tensor) -> None:
        """Count the N rows of ``xs`` (N, *S)."""
        self.n = self.n + int(xs.shape[0])
        self._mark_updated()

    def get(self) -> Optional[int]:
        """Observations so far (None before the first)."""
        n = int(self.n)
        return n if n > 0 else None


class _Moments(Stat):
    """Shared state of Mean / MSE: rows of (count, mean[, m2]) and the dtypes seen."""

    _with_m2 = False

    def __init__(self, name: Optional[str] = None) -> None:
        super().__init__(name=name)
        self.add_state("counts", [], "cat")
        self.add_state("means", [], "cat")
        if self._with_m2:
            self.add_state("m2s", [], "cat")
        self.add_state("dtypes", torch.zeros(len(M.DTYPES), dtype=torch.int64), "max")

    def update_batch(self, xs: Tensor) -> None:
        """Add the N rows of ``xs`` (N, *S)."""
        _check_rows(self, self.means, xs)
        if xs.shape[0] == 0:
            return
        self.dtypes = torch.maximum(self.dtypes, M.dtype_flags(M.mean_dtype(xs.dtype)))
        batch = M.batch_moments(xs)
        prev = self._last()
        n, mean, m2 = M.combine(prev, batch) if prev is not None else batch
        self.counts = M.fold_into_last(self.counts, torch.tensor([n], dtype=torch.int64))
        self.means = M.fold_into_last(self.means, mean.unsqueeze(0))
        if self._with_m2:
            self.m2s = M.fold_into_last(self.m2s, m2.unsqueeze(0))
        self._mark_updated()

    def _last(self) -> Optional[tuple]:
        if not self.counts:
            return None
        mean = M.last_row(self.means)[0]
        m2 = M.last_row(self.m2s)[0] if self._with_m2 else torch.zeros_like(mean)
        return int(M.last_row(self.counts)[0]), mean, m2

    def moments(self) -> tuple:
        """(n, mean (*S) float64 or None, m2 (*S) float64 or None) over all rows."""
        return M.fold_rows(self.counts, self.means, self.m2s if self._with_m2 else None)

    def _dtype(self) -> torch.dtype:
        return M.promoted(self.dtypes) or torch.float64


class Mean(_Moments):
    """The element-wise mean of the observations (*S), in the input's floating dtype."""

    def get(self) -> Optional[Tensor]:
        """Mean (*S) (None before the first update)."""
        n, mean, _ = self.moments()
        return None if n == 0 else mean.to(self._dtype())


class MSE(_Moments):
    """Sum of squared deviations from the mean, ``sum_i (x_i - mean) ** 2`` (*S) (Captum's name)."""

    _with_m2 = True

    def get(self) -> Optional[Tensor]:
        """m2 (*S) in the mean's dtype (zeros after one update; None before any)."""
        n, _, m2 = self.moments()
        return None if n == 0 else m2.to(self._dtype())

    def m2_float64(self) -> Optional[Tensor]:
        """m2 (*S) in float64 (None before the first update)."""
        n, _, m2 = self.moments()
        return None if n == 0 else m2


class Var(Stat):
    """Variance ``m2 / (n - order)``: ``order=0`` population (name ``variance``), ``order=1``
    sample (``sample_variance``)."""

    def __init__(self, name: Optional[str] = None, order: int = 0) -> None:
        if name is None:
            name = {0: "variance", 1: "sample_variance"}.get(order, f"variance({order})")
        super().__init__(name=name, order=order)
        self.order = order
        self.mse_stat: Optional[MSE] = None
        self.n_stat: Optional[Count] = None

    def init(self) -> None:
        """Find the MSE and Count stats of the owning summarizer."""
        self.mse_stat = self._get_stat(MSE())
        self.n_stat = self._get_stat(Count())

    def update_batch(self, xs: Tensor) -> None:
        """Nothing to do: computed from MSE and Count."""

    def get(self) -> Optional[Tensor]:
        """float64 variance (*S); zeros in the mean's dtype while n <= order; None before any update."""
        if self.mse_stat is None or self.n_stat is None:
            raise InputError("Var reads MSE and Count: use it inside a Summarizer")
        mse = self.mse_stat.get()
        if mse is None:
            return None
        n = self.n_stat.get()
        if n is None or n <= self.order:
            return torch.zeros_like(mse)
        return self.mse_stat.m2_float64() / (n - self.order)


class StdDev(Stat):
    """Square root of ``Var(order)`` (names ``std_dev`` / ``sample_std_dev``)."""

    def __init__(self, name: Optional[str] = None, order: int = 0) -> None:
        if name is None:
            name = {0: "std_dev", 1: "sample_std_dev"}.get(order, f"std_dev{order})")
        super().__init__(name=name, order=order)
        self.order = order
        self.var_stat: Optional[Var] = None

    def init(self) -> None:
        """Find the Var(order) stat of the owning summarizer."""
        self.var_stat = self._get_stat(Var(order=self.order))

    def update_batch(self, xs: Tensor) -> None:
        """Nothing to do: computed from Var."""

    def get(self) -> Optional[Tensor]:
        """float64 standard deviation (*S) (None before the first update)."""
        if self.var_stat is None:
            raise InputError("StdDev reads Var: use it inside a Summarizer")
        var = self.var_stat.get()
        return torch.pow(var, 0.5) if var is not None else None


# the reductions a default GeneralAccumFn folds a batch with (dim 0), and how it accumulates
_FAST = {torch.min: torch.amin, torch.max: torch.amax, torch.add: torch.sum}


class GeneralAccumFn(Stat):
    """``result = fn(result, x)`` over observations (``fn`` binary, element-wise).

    With ``torch.min`` / ``torch.max`` / ``torch.add`` a batch is reduced in one call (sums in
    float64 / int64, cast back to the input's dtype); any other ``fn`` is folded row by row in
    the input's dtype. ``fn`` is a setting: stats with different functions refuse to merge.
    """

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor], name: Optional[str] = None) -> None:
        super().__init__(name=name)
        self.fn = fn
        self.add_state("results", [], "cat")
        self.add_state("dtypes", torch.zeros(len(M.DTYPES), dtype=torch.int64), "max")

    def settings(self) -> Dict[str, Any]:
        """The accumulation function."""
        return {"fn": self.fn}

    def _wide(self, xs: Tensor) -> Tensor:
        if self.fn is torch.add and xs.dtype != torch.bool:
            return xs.to(torch.float64 if xs.is_floating_point() else torch.int64)
        return xs

    def _reduce(self, xs: Tensor) -> Tensor:
        """Fold the rows of ``xs`` (R, *S) in order."""
        fast = _FAST.get(self.fn)
        if fast is not None:
            return xs.any(0) if self.fn is torch.add and xs.dtype == torch.bool else fast(xs, 0)
        acc = xs[0]
        for i in range(1, xs.shape[0]):
            acc = self.fn(acc, xs[i])
        return acc

    def update_batch(self, xs: Tensor) -> None:
        """Fold the N rows of ``xs`` (N, *S) into the result."""
        fast = self.fn in _FAST
        if fast:
            _check_rows(self, self.results, xs)
        if xs.shape[0] == 0:
            return
        self.dtypes = torch.maximum(self.dtypes, M.dtype_flags(xs.dtype))
        xs = self._wide(xs.detach())
        prev = M.last_row(self.results)
        if prev is None:
            value = self._reduce(xs)
        elif fast:
            dt = torch.promote_types(prev.dtype, xs.dtype)
            value = self._reduce(torch.cat([prev.to(dt), xs.to(dt)]))
        else:
            value = self._reduce(torch.cat([prev, xs]))
        self.results = M.fold_into_last(self.results, value.unsqueeze(0))
        self._mark_updated()

    def get(self) -> Optional[Tensor]:
        """The folded result (*S) in the promoted input dtype (None before the first update)."""
        if not self.results:
            return None
        out = self._reduce(torch.cat(self.results))
        dtype = M.promoted(self.dtypes)
        return out.to(dtype) if self.fn in _FAST and dtype is not None else out


class Min(GeneralAccumFn):
    """Element-wise minimum over observations (*S)."""

    def __init__(self, name: Optional[str] = None, min_fn: Callable[[Tensor, Tensor], Tensor] = torch.min) -> None:
        super().__init__(name=name, fn=min_fn)


class Max(GeneralAccumFn):
    """Element-wise maximum over observations (*S)."""

    def __init__(self, name: Optional[str] = None, max_fn: Callable[[Tensor, Tensor], Tensor] = torch.max) -> None:
        super().__init__(name=name, fn=max_fn)


class Sum(GeneralAccumFn):
    """Element-wise sum over observations (*S)."""

    def __init__(self, name: Optional[str] = None, add_fn: Callable[[Tensor, Tensor], Tensor] = torch.add) -> None:
        super().__init__(name=name, fn=add_fn)


def CommonStats() -> List[Stat]:  # noqa: N802 - Captum's name
    """Mean, sample variance, sample standard deviation, min and max (Captum's list)."""
    return [Mean(), Var(order=1), StdDev(order=1), Min(), Max()]
