r"""Pictures of a Clockwork RNN: its clock, its wiring and its hidden states (matplotlib).

Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, Fig. 1 draws the modules,
their periods and the slow-to-fast wiring; these helpers draw the same objects from a
:class:`cwrnn_np.ClockworkSpec` (``docs/model.md`` defines them):

* :func:`plot_clock`: the clock :math:`\chi_t[i] = [(t_0 + t - \phi_i) \bmod T_i = 0]` as an
  n × L grid (module × step);
* :func:`plot_connectivity`: the module-level connectivity C as an n × n image
  (row = receiving module i, column = sending module j);
* :func:`plot_hidden_mask`: the unit-level structural mask :math:`M_H` of :math:`W_H` (H × H),
  with the module blocks outlined;
* :func:`plot_states`: the hidden states :math:`h_t` of one batch element as an H × L image,
  modules separated.

Shape letters: L time, B batch, H hidden, n modules, :math:`k_i` units in module i.

Every function takes an optional ``ax`` (a new figure is made when it is None), draws into it and
returns it; none keeps state or calls ``show``. ``matplotlib.pyplot`` is imported inside the
functions, so ``import cwrnn_np`` and ``import cwrnn_np.viz.plotting`` never import it (and never pick
a GUI backend). Bad arguments raise ``ValueError`` naming the argument.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..spec import ClockworkSpec
from ..validation import check_int

__all__ = ["plot_clock", "plot_connectivity", "plot_hidden_mask", "plot_states",
           "module_labels"]

# colours: a free weight or an active step is dark, a structural zero or a held step is light
_ON_OFF_CMAP = "Greys"
_BOUNDARY = dict(color="tab:red", linewidth=0.8)


# ----- argument checks ---------------------------------------------------------------------------
def _check_spec(spec):
    if not isinstance(spec, ClockworkSpec):
        raise ValueError(f"spec must be a ClockworkSpec, got {type(spec).__name__}")


def _axes(ax, figsize):
    """``ax`` if given (it must be a matplotlib Axes), else the Axes of a new pyplot figure."""
    if ax is None:
        import matplotlib.pyplot as plt  # lazy: importing cwrnn_np must not import pyplot

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
        return ax
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise ValueError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


# ----- labels ------------------------------------------------------------------------------------
def module_labels(spec: ClockworkSpec, phase: str = "auto", sep: str = " ") -> list[str]:
    r"""One short label per module: ``"T=4"``, or ``"T=4 φ=1"`` when phases matter.

    Parameters
    ----------
    spec : ClockworkSpec
    phase : ``"auto"`` (show :math:`\phi_i` only if some phase is non-zero), ``"always"`` or
        ``"never"``.
    sep : str
        Between period and phase; ``"\n"`` stacks them (for x-axis ticks).

    Returns
    -------
    list of n str
    """
    _check_spec(spec)
    if phase not in ("auto", "always", "never"):
        raise ValueError(f"phase must be 'auto', 'always' or 'never', got {phase!r}")
    show = phase == "always" or (phase == "auto" and any(spec.phases))
    if show:
        return [f"T={T}{sep}φ={p}" for T, p in zip(spec.periods, spec.phases)]
    return [f"T={T}" for T in spec.periods]


def _module_ticks(spec: ClockworkSpec) -> np.ndarray:
    """(n,) the centre of each module's unit range, in unit coordinates (for H-sized axes)."""
    off = spec.offsets
    return (off[:-1] + off[1:] - 1) / 2.0


# ----- the clock ---------------------------------------------------------------------------------
def plot_clock(spec: ClockworkSpec, L: int, t0: int = 0, ax=None):
    r"""Draw the clock: which module is active at which step, as an n × L grid.

    Parameters
    ----------
    spec : ClockworkSpec
    L : int >= 1
        Number of steps drawn (the steps 0..L-1 of one call).
    t0 : int >= 0
        The call's clock offset; the x axis shows the global step :math:`t_0 + t`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made if None.

    Returns
    -------
    ax : matplotlib Axes
        Its first image holds the (n, L) array ``spec.active(L, t0).T`` as 0/1 (dark = active);
        row i is labelled ``"i: T=T_i φ=φ_i"``.

    Notes
    -----
    .. math:: \chi_t[i] = [(t_0 + t - \phi_i) \bmod T_i = 0]

    where :math:`T_i` is module i's period and :math:`\phi_i` its phase. An active module
    recomputes its state; an inactive one holds it.
    """
    _check_spec(spec)
    L = check_int(L, "L", 1)
    t0 = check_int(t0, "t0", 0)
    n = spec.n_modules
    ax = _axes(ax, figsize=(min(2.5 + 0.13 * L, 12.0), 1.0 + 0.35 * n))
    active = spec.active(L, t0).T.astype(np.int8)  # (n, L)
    ax.imshow(active, cmap=_ON_OFF_CMAP, vmin=0, vmax=1.4, aspect="auto", interpolation="nearest",
              extent=(t0 - 0.5, t0 + L - 0.5, n - 0.5, -0.5))
    # thin white gaps between cells so single steps stay countable
    ax.set_xticks(np.arange(t0, t0 + L + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=0.6 if L <= 128 else 0.0)
    ax.tick_params(which="minor", length=0)
    ax.set_yticks(np.arange(n))
    ax.set_yticklabels([f"{i}: {lab}" for i, lab in enumerate(module_labels(spec, "always"))])
    ax.set_xlabel("step $t_0 + t$" if t0 else "step $t$")
    ax.set_ylabel("module $i$")
    ax.set_title(f"clock, periods {list(spec.periods)} (dark = active)")
    return ax


# ----- the wiring --------------------------------------------------------------------------------
def plot_connectivity(spec: ClockworkSpec, ax=None):
    r"""Draw the module-level connectivity C as an n × n image.

    Parameters
    ----------
    spec : ClockworkSpec
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
        Its first image holds ``spec.C`` (n, n) as 0/1: row i is the receiving module, column j
        the sending one, dark where :math:`C_{ij} = 1` (module j feeds module i). Ticks are
        labelled with the periods (and phases, when any is non-zero).
    """
    _check_spec(spec)
    n = spec.n_modules
    ax = _axes(ax, figsize=(1.5 + 0.45 * n, 1.5 + 0.45 * n))
    ax.imshow(spec.C.astype(np.int8), cmap=_ON_OFF_CMAP, vmin=0, vmax=1.4,
              interpolation="nearest")
    ax.set_xticks(np.arange(n + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.6)
    ax.tick_params(which="minor", length=0)
    ax.set_xticks(np.arange(n))
    ax.set_xticklabels(module_labels(spec, sep="\n"), rotation=90 if n > 8 else 0)
    ax.set_yticks(np.arange(n))
    ax.set_yticklabels(module_labels(spec))
    ax.set_xlabel("sending module $j$")
    ax.set_ylabel("receiving module $i$")
    name = spec.connectivity if isinstance(spec.connectivity, str) else "custom"
    ax.set_title(f"C ({name})")
    return ax


def plot_hidden_mask(spec: ClockworkSpec, ax=None):
    r"""Draw the unit-level structural mask :math:`M_H` (H × H) of :math:`W_H`.

    Parameters
    ----------
    spec : ClockworkSpec
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
        Its first image holds ``spec.M_H`` (H, H) as 0/1 (dark = free weight, light = structural
        zero). Row = receiving unit, column = sending unit. Module boundaries are drawn as lines
        (n - 1 vertical and n - 1 horizontal, red); ticks sit at module centres, labelled with the
        periods.

    Notes
    -----
    Block (i, j), of size :math:`k_i \times k_j`, is all ones iff :math:`C_{ij} = 1`:

    .. math:: (M_H)_{uv} = C_{m(u)\, m(v)}

    where :math:`m(u)` is the module that owns hidden unit u.
    """
    _check_spec(spec)
    H = spec.hidden_size
    ax = _axes(ax, figsize=(4.0, 4.0))
    ax.imshow(spec.M_H.astype(np.int8), cmap=_ON_OFF_CMAP, vmin=0, vmax=1.4,
              interpolation="nearest")
    for b in spec.offsets[1:-1]:
        ax.axhline(b - 0.5, **_BOUNDARY)
        ax.axvline(b - 0.5, **_BOUNDARY)
    ticks = _module_ticks(spec)
    ax.set_xticks(ticks)
    ax.set_xticklabels(module_labels(spec, sep="\n"), rotation=90 if spec.n_modules > 8 else 0)
    ax.set_yticks(ticks)
    ax.set_yticklabels(module_labels(spec))
    ax.set_xlim(-0.5, H - 0.5)
    ax.set_ylim(H - 0.5, -0.5)
    ax.set_xlabel("sending unit (column of $W_H$)")
    ax.set_ylabel("receiving unit (row of $W_H$)")
    name = spec.connectivity if isinstance(spec.connectivity, str) else "custom"
    ax.set_title(f"$M_H$ ({name}), H={H}")
    return ax


# ----- the states --------------------------------------------------------------------------------
def plot_states(h: np.ndarray, spec: ClockworkSpec, b: int = 0, ax=None):
    r"""Draw the hidden states of one batch element over time, as an H × L image.

    Parameters
    ----------
    h : (L, B, H) array
        Hidden states :math:`h_t`, e.g. ``cache.h`` from :func:`cwrnn_np.forward`.
    spec : ClockworkSpec
        The spec that made ``h`` (gives H and the module boundaries).
    b : int
        The batch element, ``0 <= b < B``.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
        Its first image holds ``h[:, b, :].T`` (H, L) on a diverging scale fixed to [-1, 1]
        (the range of tanh). Module boundaries are horizontal red lines; ticks at module centres
        are labelled with the periods. A module that is not active holds its value, so its rows
        show runs of constant colour whose length is its period.
    """
    _check_spec(spec)
    if not isinstance(h, np.ndarray) or h.ndim != 3:
        raise ValueError(f"h must be an (L, B, H) array, got "
                         f"{getattr(h, 'shape', type(h).__name__)}")
    L, B, H = h.shape
    if H != spec.hidden_size:
        raise ValueError(f"h must have H = spec.hidden_size = {spec.hidden_size} on its last "
                         f"axis, got shape {h.shape}")
    if L < 1:
        raise ValueError(f"h has no time steps (shape {h.shape}); need L >= 1")
    b = check_int(b, "b", 0)
    if b >= B:
        raise ValueError(f"b must be < B = {B}, got {b}")
    if not np.issubdtype(h.dtype, np.floating):
        raise ValueError(f"h must be floating point, got dtype {h.dtype}")
    ax = _axes(ax, figsize=(min(3.0 + 0.12 * L, 12.0), 1.5 + 0.12 * H))
    im = ax.imshow(h[:, b, :].T, cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect="auto",
                   interpolation="nearest")  # (H, L)
    for off in spec.offsets[1:-1]:
        ax.axhline(off - 0.5, **_BOUNDARY)
    ax.set_yticks(_module_ticks(spec))
    ax.set_yticklabels(module_labels(spec))
    ax.set_xlabel("step $t$")
    ax.set_ylabel("hidden unit (by module)")
    ax.set_title(f"hidden states $h_t$, batch element {b}")
    ax.figure.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    return ax
