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
