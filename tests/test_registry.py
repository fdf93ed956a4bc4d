"""The family registry: every kind maps to a family with both backends, the spec's type picks the
family, and one gradcheck audits every family."""
import numpy as np
import pytest

import cwrnn_np as cw
from cwrnn_np.models import FAMILIES, KINDS, family, family_of
from cwrnn_np.models.learned_periods import LearnedPeriodSpec
from cwrnn_np.models.lstm import LSTMSpec
from cwrnn_np.models.readout import TEMPERED, Net
from cwrnn_np.models.selection import group_modules

BASE = cw.ClockworkSpec(2, 1, [2, 2], [1, 3], learn_h0=True)
SPECS = {"cwrnn": BASE, "lstm": LSTMSpec(2, 1, 3, peepholes=True),
         "select": group_modules(BASE, 2), "learned": LearnedPeriodSpec(BASE, form="emitted")}


def test_every_kind_has_a_family_with_both_backends():
    assert set(KINDS) == {"cwrnn", "srn", "lstm", "select", "learned"}
    assert family("srn") is family("cwrnn")
    for kind, fam in FAMILIES.items():
        assert set(fam.backends) == {"numpy", "numba"}, kind
    assert set(TEMPERED) == {"select", "learned"}
    with pytest.raises(ValueError, match="model kind must be one of"):
        family("gru")


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_the_spec_type_picks_the_family_and_one_gradcheck_audits_it(kind):
    spec = SPECS[kind]
    assert family_of(spec) is family(kind)
    net = Net(kind, spec)
    params = net.init(np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((5, 2, 2))
    report = cw.gradcheck(params, spec, x, t0=1, resets=[3], backend="numpy",
                          max_entries=4)
    assert report.passed(1e-6), str(report)
    assert set(report.per_name) >= set(params)
    # the same net, stored and read back, is the same family and the same spec
    again = Net.from_dict(net.to_dict())
    assert again.family is net.family and again.spec == spec


def test_a_spec_of_another_family_is_refused_by_name():
    lstm = SPECS["lstm"]
    params = family("lstm").init(lstm, np.random.default_rng(0))
    with pytest.raises(ValueError, match="spec must be a ClockworkSpec, got LSTMSpec"):
        cw.forward(params, lstm, np.zeros((3, 1, 2)))
    with pytest.raises(ValueError, match="spec must be one of"):
        cw.gradcheck(params, object(), np.zeros((3, 1, 2)))


def test_a_family_cache_compiled_from_other_kernel_sources_is_dropped(tmp_path):
    """Numba does not see edits to helpers a kernel compiles in from cwrnn_np/kernels/;
    load_kernels drops a family's cache when the hash of those sources changed."""
    import types

    from cwrnn_np.models.family import _drop_stale_cache
    (tmp_path / "pkg" / "models" / "fam").mkdir(parents=True)
    (tmp_path / "pkg" / "kernels").mkdir()
    source = tmp_path / "pkg" / "models" / "fam" / "kernels.py"
    source.write_text("# a kernel\n")
    helper = tmp_path / "pkg" / "kernels" / "linalg.py"
    helper.write_text("# a helper\n")
    cache = tmp_path / "cache"
    dispatcher = types.SimpleNamespace(_cache=types.SimpleNamespace(_cache_path=str(cache)),
                                       __module__="pkg.models.fam.kernels")
    module = types.SimpleNamespace(__file__=str(source), __name__="pkg.models.fam.kernels",
                                   kernel=dispatcher)
    _drop_stale_cache(module)                            # first time: stamp written
    compiled = cache / "kernels.kernel-10.py311.nbi"
    compiled.write_text("machine code")
    other = cache / "linalg.helper-3.py311.nbi"          # the helpers' own cache is kept
    other.write_text("machine code")
    _drop_stale_cache(module)                            # sources unchanged: kept
    assert compiled.exists()
    helper.write_text("# a helper, edited\n")
    _drop_stale_cache(module)                            # a helper changed: dropped
    assert not compiled.exists() and other.exists()      # (pkg.kernels.* is not loaded here)


def test_load_kernels_drops_the_shared_helpers_cache_too(monkeypatch, tmp_path):
    """When the kernel sources changed, the cached code of the shared helpers goes as well
    (held.py's cached functions compile linalg.py's in)."""
    import importlib
    import pathlib

    fam = importlib.import_module("cwrnn_np.models.family")
    kernels = fam.load_kernels("clockwork")
    from cwrnn_np.kernels import linalg
    monkeypatch.setattr(fam, "_cache_folder", lambda module: tmp_path / module.__name__)
    own = tmp_path / kernels.__name__
    shared = tmp_path / linalg.__name__
    own.mkdir()
    shared.mkdir()
    (own / "kernels.sources-sha256").write_text("an older hash")
    for folder, name in [(own, "kernels.k-1.py311.nbi"), (shared, "held.flush-2.py311.nbc"),
                         (shared, "linalg.add-3.py311.nbi")]:
        (folder / name).write_text("machine code")
    fam._drop_stale_cache(kernels)
    assert not any(p.suffix in (".nbi", ".nbc") for p in pathlib.Path(tmp_path).rglob("*"))
    assert (own / "kernels.sources-sha256").read_text() != "an older hash"
