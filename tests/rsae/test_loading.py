"""Checkpoint loaders: fixtures in each format (tests/rsae/fixtures.py) against numpy formulas.

The reference formulas below are re-written from each origin library's encode/decode (cited per
function), in float64 numpy.  With dyadic fixture weights every operation is exact in float32,
so the comparisons are at ``rtol = 0`` except where a square root is involved (TopK decoder-norm
rescaling, runtime normalisation).

The ``test_against_installed_*`` tests compare with the origin libraries themselves and skip
when they are not importable (none is a dependency).  They were run with SAELens 6.54.12 from
``.venv-saelens`` and eai-sparsify 1.3.3 / dictionary-learning 0.1.0 installed with
``pip install --no-deps --target /tmp/origin_pkgs ...``::

    PYTHONPATH=/tmp/origin_pkgs:. .venv-saelens/bin/python -m pytest tests/rsae/test_loading.py -k installed
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from fixtures import (
    D_IN,
    D_SAE,
    K,
    dictionary_learning_state,
    make_inputs,
    make_weights,
    truncate,
    write_dictionary_learning,
    write_gemma_scope,
    write_saelens,
    write_sparsify,
)

from rsae import CheckpointError, JumpReLUSAE, ReLUSAE, TopKSAE, load_sae
from rsae.loading import detect_format


# ------------------------------------------------------------------ reference formulas (numpy)
def _relu(v):
    return np.maximum(v, 0.0)


def ref_standard(x, w, *, subtract_b_dec=True):
    """SAELens StandardSAE / dictionary_learning AutoEncoder: relu((x - b_dec) W_enc + b_enc)."""
    x = x.astype(np.float64)
    h = (x - w["b_dec"] if subtract_b_dec else x) @ w["W_enc"] + w["b_enc"]
    return _relu(h)


def ref_jumprelu(x, w, *, subtract_b_dec=True, threshold=None):
    """SAELens JumpReLUSAE / Gemma Scope: relu(h) * (h > threshold)."""
    x = x.astype(np.float64)
    h = (x - w["b_dec"] if subtract_b_dec else x) @ w["W_enc"] + w["b_enc"]
    theta = w["threshold"] if threshold is None else threshold
    return _relu(h) * (h > theta)


def _topk_rows(h, k):
    """Keep the k largest entries per row (ReLU'd), zero the rest; fail loudly on a boundary tie."""
    order = np.argsort(-h, axis=-1, kind="stable")
    srt = np.take_along_axis(h, order, axis=-1)
    assert np.all(srt[:, k - 1] > srt[:, k]), "fixture has a tie at the top-k boundary"
    z = np.zeros_like(h)
    np.put_along_axis(z, order[:, :k], _relu(np.take_along_axis(h, order[:, :k], axis=-1)), axis=-1)
    return z


def ref_topk(x, w, k, *, rescale=False):
    """SAELens TopKSAE.encode (``hidden_pre * ||W_dec||`` if rescaling), sparsify, AutoEncoderTopK."""
    x = x.astype(np.float64)
    h = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    if rescale:
        h = h * np.linalg.norm(w["W_dec"].astype(np.float64), axis=-1)
    return _topk_rows(h, k)


def ref_decode(z, w, *, rescale=False):
    if rescale:
        z = z / np.linalg.norm(w["W_dec"].astype(np.float64), axis=-1)
    return z @ w["W_dec"] + w["b_dec"]


def _encode_decode(sae, x):
    xt = torch.from_numpy(x)
    with torch.no_grad():
        z = sae.encode(xt)
        return z.numpy(), sae.decode(z).numpy(), sae(xt).numpy()


def _assert_exact(sae, x, z_ref, xhat_ref):
    z, xhat, fwd = _encode_decode(sae, x)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z, z_ref.astype(np.float32))
    np.testing.assert_array_equal(xhat, xhat_ref.astype(np.float32))
    np.testing.assert_array_equal(fwd, xhat)
    assert (z > 0).sum() > 0 and (z == 0).sum() > 0  # the fixture exercises both branches


# -------------------------------------------------------------------------------- SAELens
@pytest.mark.parametrize("layout", [5, 6])
def test_saelens_standard(tmp_path, layout):
    w, x = make_weights(1), make_inputs(2)
    path = write_saelens(tmp_path / "sae", w, architecture="standard", layout=layout)
    assert detect_format(path) == "saelens"
    sae = load_sae(path)
    assert isinstance(sae, ReLUSAE) and sae.cfg.apply_b_dec_to_input and sae.cfg.source_format == "saelens"
    z = ref_standard(x, w)
    _assert_exact(sae, x, z, ref_decode(z, w))


def test_saelens_no_b_dec_subtraction_and_expected_average_flag(tmp_path):
    w, x = make_weights(3), make_inputs(4)
    extra = {"apply_b_dec_to_input": False, "normalize_activations": "expected_average_only_in"}
    sae = load_sae(write_saelens(tmp_path / "sae", w, cfg_extra=extra))
    assert sae.cfg.normalize_activations == "expected_average_only_in"
    z = ref_standard(x, w, subtract_b_dec=False)
    _assert_exact(sae, x, z, ref_decode(z, w))


def test_saelens_dtype_from_cfg(tmp_path):
    """Weights are cast to cfg["dtype"] as SAELens does (here: float32 file, bfloat16 SAE)."""
    w, x = make_weights(47), make_inputs(48)
    sae = load_sae(write_saelens(tmp_path / "b", w, cfg_extra={"dtype": "bfloat16"}))
    assert sae.W_enc.dtype == torch.bfloat16 and sae.cfg.dtype == "bfloat16"
    assert torch.equal(sae.W_enc, torch.from_numpy(w["W_enc"]).to(torch.bfloat16))
    assert sae.encode(torch.from_numpy(x)).dtype == torch.bfloat16


def test_saelens_jumprelu_and_batchtopk_saved_as_jumprelu(tmp_path):
    w, x = make_weights(5), make_inputs(6)
    keys = ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")
    sae = load_sae(write_saelens(tmp_path / "j", w, architecture="jumprelu", keys=keys))
    assert isinstance(sae, JumpReLUSAE)
    z = ref_jumprelu(x, w)
    _assert_exact(sae, x, z, ref_decode(z, w))
    # BatchTopK -> JumpReLU on save: one global threshold broadcast to every latent
    wb = dict(w, threshold=np.full(D_SAE, 0.75, dtype=np.float32))
    sae = load_sae(write_saelens(tmp_path / "b", wb, architecture="jumprelu", keys=keys))
    z = ref_jumprelu(x, wb)
    _assert_exact(sae, x, z, ref_decode(z, wb))


def test_saelens_5x_log_threshold_is_exponentiated(tmp_path):
    w, x = make_weights(7), make_inputs(8)
    w = dict(w, log_threshold=np.log(w["threshold"] + 0.25).astype(np.float32))
    keys = ("W_enc", "b_enc", "W_dec", "b_dec", "log_threshold")
    sae = load_sae(write_saelens(tmp_path / "s", w, architecture="jumprelu", layout=5, keys=keys))
    theta = np.exp(w["log_threshold"])  # float32 exp, as torch.exp in SAELens
    np.testing.assert_allclose(sae.threshold.detach().numpy(), theta, rtol=1e-6)
    z = ref_jumprelu(x, w, threshold=sae.threshold.detach().numpy().astype(np.float64))
    _assert_exact(sae, x, z, ref_decode(z, w))


@pytest.mark.parametrize("layout", [5, 6])
def test_saelens_topk(tmp_path, layout):
    w, x = make_weights(9), make_inputs(10)
    extra = {"k": K} if layout == 6 else {"activation_fn_str": "topk", "activation_fn_kwargs": {"k": K}}
    sae = load_sae(
        write_saelens(
            tmp_path / "t",
            w,
            architecture="topk" if layout == 6 else "standard",
            layout=layout,
            cfg_extra=extra,
        )
    )
    assert isinstance(sae, TopKSAE) and sae.k == K and not sae.cfg.rescale_acts_by_decoder_norm
    z = ref_topk(x, w, K)
    _assert_exact(sae, x, z, ref_decode(z, w))
    assert ((sae.encode(torch.from_numpy(x)) != 0).sum(-1) <= K).all()


def test_saelens_topk_rescale_acts_by_decoder_norm(tmp_path):
    w, x = make_weights(11), make_inputs(12)
    extra = {"k": K, "rescale_acts_by_decoder_norm": True}
    sae = load_sae(write_saelens(tmp_path / "t", w, architecture="topk", cfg_extra=extra))
    assert sae.cfg.rescale_acts_by_decoder_norm
    z_ref = ref_topk(x, w, K, rescale=True)
    z, xhat, _ = _encode_decode(sae, x)
    np.testing.assert_array_equal(z != 0, z_ref != 0)  # same latents selected
    np.testing.assert_allclose(z, z_ref, rtol=2e-6, atol=0)  # sqrt in float32 vs float64
    np.testing.assert_allclose(xhat, ref_decode(z_ref, w, rescale=True), rtol=1e-5, atol=1e-5)
    # rescaling matters: selection differs from the plain TopK on this fixture
    assert not np.array_equal(z_ref != 0, ref_topk(x, w, K) != 0)


@pytest.mark.parametrize("mode", ["constant_norm_rescale", "layer_norm"])
def test_saelens_runtime_normalisation(tmp_path, mode):
    w, x = make_weights(13), make_inputs(14)
    sae = load_sae(write_saelens(tmp_path / "n", w, cfg_extra={"normalize_activations": mode}))
    xd = x.astype(np.float64)
    if mode == "constant_norm_rescale":  # SAELens SAE._setup_activation_normalization
        coeff = np.sqrt(D_IN) / np.linalg.norm(xd, axis=-1, keepdims=True)
        xn, undo = xd * coeff, lambda y: y / coeff
    else:
        mu = xd.mean(-1, keepdims=True)
        std = (xd - mu).std(-1, ddof=1, keepdims=True)
        xn, undo = (xd - mu) / (std + 1e-5), lambda y: y * std + mu
    z = ref_standard(xn, w)
    with torch.no_grad():
        out = sae(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, undo(ref_decode(z, w)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "cfg_extra,match",
    [
        ({"architecture": "gated"}, "'gated' is not supported"),
        ({"architecture": "batchtopk"}, "saves the inference SAE as 'jumprelu'"),
        ({"normalize_activations": "covariance_whitening"}, "covariance_whitening"),
        ({"d_in": D_IN + 1}, "shape"),
        ({"architecture": "topk"}, "without `k`"),
    ],
)
def test_saelens_config_errors(tmp_path, cfg_extra, match):
    path = write_saelens(tmp_path / "e", make_weights(15), cfg_extra=cfg_extra)
    with pytest.raises(CheckpointError, match=match) as info:
        load_sae(path)
    assert "\n" not in str(info.value)


def test_saelens_5x_other_activation_and_scaling_factor(tmp_path):
    w = make_weights(16)
    with pytest.raises(CheckpointError, match="tanh-relu"):
        load_sae(write_saelens(tmp_path / "a", w, layout=5, cfg_extra={"activation_fn_str": "tanh-relu"}))
    # a scaling_factor of ones is dropped (SAELens does the same); anything else is refused
    ones = dict(w, scaling_factor=np.ones(D_SAE, dtype=np.float32))
    keys = ("W_enc", "b_enc", "W_dec", "b_dec", "scaling_factor")
    assert isinstance(load_sae(write_saelens(tmp_path / "b", ones, layout=5, keys=keys)), ReLUSAE)
    twos = dict(w, scaling_factor=np.full(D_SAE, 2.0, dtype=np.float32))
    with pytest.raises(CheckpointError, match="scaling_factor"):
        load_sae(write_saelens(tmp_path / "c", twos, layout=5, keys=keys))


# ----------------------------------------------------------------------------- Gemma Scope
def test_gemma_scope_does_not_subtract_b_dec(tmp_path):
    w, x = make_weights(17), make_inputs(18)
    file = write_gemma_scope(tmp_path / "layer_3" / "width_24" / "average_l0_5", w)
    for path in (file, file.parent):
        assert detect_format(path) == "gemma_scope"
        sae = load_sae(path)
        assert isinstance(sae, JumpReLUSAE) and not sae.cfg.apply_b_dec_to_input
        z = ref_jumprelu(x, w, subtract_b_dec=False)
        _assert_exact(sae, x, z, ref_decode(z, w))
    # and subtracting b_dec would have given a different answer on this fixture
    assert not np.array_equal(ref_jumprelu(x, w, subtract_b_dec=True), z)


def test_gemma_scope_missing_and_misshaped(tmp_path):
    w = make_weights(19)
    np.savez(tmp_path / "params.npz", **{k: w[k] for k in ("W_enc", "W_dec", "b_enc", "b_dec")})
    with pytest.raises(CheckpointError, match=r"missing key\(s\) \['threshold'\]"):
        load_sae(tmp_path / "params.npz")
    (tmp_path / "b").mkdir()
    np.savez(tmp_path / "b" / "params.npz", **dict(w, threshold=w["threshold"][:-1]))
    with pytest.raises(CheckpointError, match=r"'gate\.threshold' has shape"):
        load_sae(tmp_path / "b")


# -------------------------------------------------------------------------------- sparsify
def test_multi_hookpoint_directory_points_to_its_parts(tmp_path):
    w = make_weights(49)
    for name in ("layers.2", "layers.3"):
        write_sparsify(tmp_path / "repo" / name, w)
    with pytest.raises(CheckpointError, match=r"sub-directories \(layers\.2, layers\.3\); point at one"):
        load_sae(tmp_path / "repo")


def test_sparsify_topk(tmp_path):
    w, x = make_weights(21), make_inputs(22)
    path = write_sparsify(tmp_path / "layers.3", w, k=K)
    assert detect_format(path) == "sparsify"
    sae = load_sae(path)
    assert isinstance(sae, TopKSAE) and sae.k == K and sae.cfg.apply_b_dec_to_input
    # sparsify: relu(Linear(x - b_dec)) -> topk; decode = sum_i acts_i W_dec[idx_i] + b_dec
    z = ref_topk(x, w, K)
    _assert_exact(sae, x, z, ref_decode(z, w))


@pytest.mark.parametrize(
    "cfg_extra,match",
    [
        ({"activation": "groupmax"}, "groupmax"),
        ({"transcode": True}, "transcode"),
        ({"skip_connection": True}, "skip_connection"),
        ({"signed": True}, "signed"),
        ({"num_latents": D_SAE * 2}, "num_latents"),
        ({"k": "5"}, "`k`"),
    ],
)
def test_sparsify_unsupported_options(tmp_path, cfg_extra, match):
    with pytest.raises(CheckpointError, match=match):
        load_sae(write_sparsify(tmp_path / "s", make_weights(23), cfg_extra=cfg_extra))


# ---------------------------------------------------------------------- dictionary_learning
@pytest.mark.parametrize(
    "dict_class", ["AutoEncoder", "AutoEncoderNew", "JumpReluAutoEncoder", "AutoEncoderTopK"]
)
def test_dictionary_learning(tmp_path, dict_class):
    w, x = make_weights(25), make_inputs(26)
    path = write_dictionary_learning(tmp_path / dict_class, dictionary_learning_state(w, dict_class))
    assert detect_format(path) == "dictionary_learning"
    sae = load_sae(path)
    if dict_class == "AutoEncoder":  # relu(encoder(x - bias)); decoder(f) + bias
        z = ref_standard(x, w)
    elif dict_class == "AutoEncoderNew":  # relu(encoder(x)); decoder(f) (decoder has the bias)
        z = ref_standard(x, w, subtract_b_dec=False)
    elif dict_class == "JumpReluAutoEncoder":  # relu(h * (h > threshold)), no b_dec on the input
        z = ref_jumprelu(x, w, subtract_b_dec=False)
    else:  # relu(encoder(x - b_dec)).topk(k) scattered
        z = ref_topk(x, w, K)
    _assert_exact(sae, x, z, ref_decode(z, w))
    assert sae.cfg.metadata["dict_class"] == dict_class


def test_dictionary_learning_batchtopk_via_config_json(tmp_path):
    w, x = make_weights(27), make_inputs(28)
    state = dictionary_learning_state(w, "BatchTopKSAE", threshold=0.625)
    path = write_dictionary_learning(tmp_path / "b", state, dict_class="BatchTopKSAE")
    sae = load_sae(path.parent)
    assert isinstance(sae, JumpReLUSAE) and sae.cfg.metadata["dict_class"] == "BatchTopKSAE"
    post_relu = ref_standard(x, w)  # BatchTopKSAE.encode(use_threshold=True)
    z = post_relu * (post_relu > 0.625)
    _assert_exact(sae, x, z, ref_decode(z, w))


class _NotATensor:
    pass


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_dictionary_learning_refuses_arbitrary_pickles(tmp_path):
    w = make_weights(29)
    state = dict(dictionary_learning_state(w, "AutoEncoder"), evil=_NotATensor())
    path = write_dictionary_learning(tmp_path / "p", state)
    with pytest.raises(CheckpointError, match="not a plain tensor state dict") as info:
        load_sae(path)
    assert "\n" not in str(info.value)
    # a plain pickle of a list (not a state dict) and a state dict with a non-tensor value
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="expected a state dict"):
        load_sae(tmp_path / "list.pt")
    torch.save({"encoder.weight": torch.zeros(2, 2), "note": "hello"}, tmp_path / "mixed.pt")
    with pytest.raises(CheckpointError, match="non-tensor entries"):
        load_sae(tmp_path / "mixed.pt")
    with open(tmp_path / "raw.pt", "wb") as f:  # a raw (non-zip) pickle of an object
        pickle.dump(_NotATensor(), f)
    with pytest.raises(CheckpointError):
        load_sae(tmp_path / "raw.pt")


def test_dictionary_learning_unknown_layouts(tmp_path):
    w = make_weights(31)
    gated = {
        "decoder_bias": torch.zeros(D_IN),
        "r_mag": torch.zeros(D_SAE),
        "encoder.weight": torch.zeros(D_SAE, D_IN),
    }
    with pytest.raises(CheckpointError, match="GatedAutoEncoder"):
        load_sae(write_dictionary_learning(tmp_path / "g", gated))
    bad = dict(dictionary_learning_state(w, "AutoEncoder"))
    bad["decoder.weight"] = bad["decoder.weight"][:, :-1]
    with pytest.raises(CheckpointError, match=r"'decoder\.weight' has shape"):
        load_sae(write_dictionary_learning(tmp_path / "s", bad))


# ------------------------------------------------------------------ generic bad checkpoints
def test_unknown_format_and_missing_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="unknown checkpoint format") as info:
        load_sae(tmp_path / "empty")
    assert "\n" not in str(info.value)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="unknown checkpoint format"):
        load_sae(tmp_path / "notes.txt")
    with pytest.raises(CheckpointError, match="no such file"):
        load_sae(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="unknown checkpoint format 'bogus'"):
        load_sae(tmp_path / "empty", format="bogus")


@pytest.mark.parametrize("fmt", ["saelens", "sparsify", "gemma_scope", "dictionary_learning"])
def test_truncated_files(tmp_path, fmt):
    w = make_weights(33)
    if fmt == "saelens":
        path = write_saelens(tmp_path / "s", w)
        truncate(path / "sae_weights.safetensors")
    elif fmt == "sparsify":
        path = write_sparsify(tmp_path / "s", w)
        truncate(path / "sae.safetensors")
    elif fmt == "gemma_scope":
        path = write_gemma_scope(tmp_path / "g", w)
        truncate(path)
    else:
        path = write_dictionary_learning(tmp_path / "d", dictionary_learning_state(w, "AutoEncoder"))
        truncate(path)
    with pytest.raises(CheckpointError, match="corrupt or truncated") as info:
        load_sae(path)
    assert "\n" not in str(info.value)


def test_corrupt_json_nan_weights_and_wrong_shapes(tmp_path):
    w = make_weights(35)
    path = write_saelens(tmp_path / "j", w)
    (path / "cfg.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_sae(path)
    nan = dict(w, b_enc=np.full(D_SAE, np.nan, dtype=np.float32))
    with pytest.raises(CheckpointError, match="'b_enc' contains NaN"):
        load_sae(write_saelens(tmp_path / "n", nan))
    transposed = dict(w, W_enc=np.ascontiguousarray(w["W_enc"].T))
    with pytest.raises(CheckpointError, match=r"'W_enc' has shape \[24, 12\], expected \[12, 24\]"):
        load_sae(write_saelens(tmp_path / "t", transposed, cfg_extra={"d_in": D_IN, "d_sae": D_SAE}))
    with pytest.raises(CheckpointError, match=r"missing key\(s\) \['threshold'\]"):
        load_sae(write_saelens(tmp_path / "m", w, architecture="jumprelu"))
    extra = ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")
    with pytest.raises(CheckpointError, match=r"unexpected key\(s\) \['threshold'\]"):
        load_sae(write_saelens(tmp_path / "x", w, architecture="standard", keys=extra))


def test_device_argument_and_input_width_check(tmp_path):
    sae = load_sae(write_saelens(tmp_path / "s", make_weights(37)), device="cpu")
    assert sae.W_enc.device.type == "cpu"
    with pytest.raises(ValueError, match="d_in mismatch"):
        sae(torch.zeros(3, D_IN + 1))


# ------------------------------------------------------------- against SAELens itself (optional)
_SAELENS_CASES = {
    # name: (architecture, layout, cfg_extra, weight keys)
    "standard": ("standard", 6, {}, ()),
    "standard_no_b_dec": ("standard", 6, {"apply_b_dec_to_input": False}, ()),
    "jumprelu": ("jumprelu", 6, {}, ("threshold",)),
    "topk": ("topk", 6, {"k": K}, ()),
    "topk_rescale": ("topk", 6, {"k": K, "rescale_acts_by_decoder_norm": True}, ()),
    "layer_norm": ("standard", 6, {"normalize_activations": "layer_norm"}, ()),
    "constant_norm_rescale": ("standard", 6, {"normalize_activations": "constant_norm_rescale"}, ()),
    "bfloat16_jumprelu": ("jumprelu", 6, {"dtype": "bfloat16"}, ("threshold",)),
    "v5_standard": ("standard", 5, {}, ()),
    "v5_topk": ("standard", 5, {"activation_fn_str": "topk", "activation_fn_kwargs": {"k": K}}, ()),
    "v5_normalize_bool": ("standard", 5, {"normalize_activations": True}, ()),
}


@pytest.mark.saelens
@pytest.mark.parametrize("case", sorted(_SAELENS_CASES))
def test_against_installed_saelens(tmp_path, case):
    """SAELens' own ``SAE.load_from_disk`` on the same directory: bitwise equal encode/decode/forward."""
    sae_lens = pytest.importorskip("sae_lens")
    arch, layout, extra, extra_keys = _SAELENS_CASES[case]
    w, x = make_weights(39), make_inputs(40)
    # random (non-dyadic) weights: bitwise agreement then means the same float32 operations
    rng = np.random.default_rng(41)
    w = {k: (v + rng.normal(size=v.shape) * 1e-3).astype(np.float32) for k, v in w.items()}
    w["log_threshold"] = np.log(w["threshold"] + 0.1).astype(np.float32)
    keys = ("W_enc", "b_enc", "W_dec", "b_dec", *extra_keys)
    path = write_saelens(tmp_path / case, w, architecture=arch, layout=layout, keys=keys, cfg_extra=extra)
    ours = load_sae(path)
    theirs = sae_lens.SAE.load_from_disk(str(path))
    xt = torch.from_numpy(x)
    with torch.no_grad():
        z = theirs.encode(xt)
        if extra.get("normalize_activations") in ("layer_norm", "constant_norm_rescale"):
            theirs.decode(z)  # SAELens keeps the normalisation state between encode and decode
        assert torch.equal(ours.encode(xt), z)
        assert (z != 0).any() and (z == 0).any()
        assert torch.equal(ours(xt), theirs(xt))
        if not extra.get("normalize_activations") or extra["normalize_activations"] is True:
            assert torch.equal(ours.decode(z), theirs.decode(z))


def _import_origin(module: str, attr: str):
    """``module`` if importable *and* it is the library meant (has ``attr``), else skip."""
    mod = pytest.importorskip(module)
    if not hasattr(mod, attr):
        pytest.skip(f"{module} is installed but is not the expected library (no {attr})")
    return mod


def test_against_installed_sparsify(tmp_path):
    """EleutherAI sparsify writes the checkpoint itself (SparseCoder.save_to_disk); we must agree bitwise."""
    sparsify = _import_origin("sparsify", "SparseCoder")
    w, x = make_weights(43), make_inputs(44)
    coder = sparsify.SparseCoder(D_IN, sparsify.SparseCoderConfig(num_latents=D_SAE, k=K))
    with torch.no_grad():
        coder.encoder.weight.copy_(torch.from_numpy(w["W_enc"].T))
        coder.encoder.bias.copy_(torch.from_numpy(w["b_enc"]))
        coder.W_dec.copy_(torch.from_numpy(w["W_dec"]))
        coder.b_dec.copy_(torch.from_numpy(w["b_dec"]))
    coder.save_to_disk(tmp_path / "layers.3")
    ours = load_sae(tmp_path / "layers.3")
    xt = torch.from_numpy(x)
    with torch.no_grad():
        top_acts, top_indices, *_ = coder.encode(xt)
        z_theirs = torch.zeros(len(x), D_SAE).scatter_(-1, top_indices, top_acts)
        assert torch.equal(ours.encode(xt), z_theirs)
        assert torch.equal(ours.decode(z_theirs), coder.decode(top_acts, top_indices))


@pytest.mark.parametrize(
    "dict_class", ["AutoEncoder", "JumpReluAutoEncoder", "AutoEncoderTopK", "BatchTopKSAE"]
)
def test_against_installed_dictionary_learning(tmp_path, dict_class):
    """dictionary_learning's own classes produce the state dict (their keys, their shapes)."""
    _import_origin("dictionary_learning", "AutoEncoder")
    from dictionary_learning.dictionary import AutoEncoder, JumpReluAutoEncoder
    from dictionary_learning.trainers.batch_top_k import BatchTopKSAE
    from dictionary_learning.trainers.top_k import AutoEncoderTopK

    w, x = make_weights(45), make_inputs(46)
    if dict_class == "AutoEncoder":
        ae = AutoEncoder(D_IN, D_SAE)
    elif dict_class == "JumpReluAutoEncoder":
        ae = JumpReluAutoEncoder(D_IN, D_SAE)
    else:
        ae = (AutoEncoderTopK if dict_class == "AutoEncoderTopK" else BatchTopKSAE)(D_IN, D_SAE, K)
    ae.load_state_dict(dictionary_learning_state(w, dict_class, threshold=0.5))
    path = write_dictionary_learning(
        tmp_path / dict_class,
        ae.state_dict(),
        dict_class=dict_class if dict_class == "BatchTopKSAE" else None,
    )
    ours = load_sae(path)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        z = ae.encode(xt)  # each class's default inference path
        assert torch.equal(ours.encode(xt), z)
        assert torch.equal(ours.decode(z), ae.decode(z))
        assert torch.equal(ours(xt), ae(xt))
