"""Property-based fuzzing of preset files: whatever a file holds, loading it either gives a valid experiment or
a ConfigError that names the file (and the key, when one is at fault). Never another exception."""

import string

import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core import config as cfg
from tui.core.params import ConfigError

SECTIONS = list(cfg.SECTIONS)
KNOWN_KEYS = {s: [p.name for p in cfg.section_params(s)] for s in SECTIONS}
KNOWN_KEYS["model"] += ["hidden_units", "conv_filters", "dense_units", "depth", "backbone", "mode", "filters"]

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.sampled_from(["", "relu", "adam", "digits", "mlp", "folder", "x" * 5000, "ü∂ƒ©", "../../etc/passwd"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(string.ascii_letters, max_size=8), inner, max_size=3),
                      max_leaves=12)
keys = st.one_of(st.text(max_size=30), st.sampled_from(sorted({k for ks in KNOWN_KEYS.values() for k in ks})))
sections = st.one_of(st.sampled_from(SECTIONS + ["meta"]), st.text(max_size=20))
documents = st.dictionaries(sections, st.one_of(st.dictionaries(keys, values, max_size=8), values), max_size=7)

CASES = {"documents": 0, "texts": 0}


def check_loads(tmp_path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    try:
        config = cfg.load(path)
    except ConfigError as err:
        assert str(err).startswith(str(path)), str(err)
        assert err.message
    else:
        assert isinstance(config, cfg.ExperimentConfig)
        assert cfg.loads(cfg.dumps(config)) == config  # whatever was accepted round-trips


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(documents)
def test_random_documents_are_accepted_or_refused_with_a_message(tmp_path, doc):
    try:
        text = tomlkit.dumps(doc)
    except Exception:  # not representable as TOML: nothing to test
        return
    CASES["documents"] += 1
    check_loads(tmp_path, text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=500))
def test_random_text_is_refused_with_a_message(tmp_path, text):
    CASES["texts"] += 1
    check_loads(tmp_path, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SECTIONS), st.data())
def test_every_known_key_with_a_wrong_value_names_the_key(tmp_path, section, data):
    key = data.draw(st.sampled_from(KNOWN_KEYS[section][: len(cfg.section_params(section))]))
    value = data.draw(scalars)
    try:
        text = tomlkit.dumps({section: {key: value}})
    except Exception:
        return
    path = tmp_path / "one.toml"
    path.write_text(text, encoding="utf-8")
    try:
        cfg.load(path)
    except ConfigError as err:
        assert err.key in (f"{section}.{key}", "dataset.path", "dataset.test_fraction"), (err.key, key)
