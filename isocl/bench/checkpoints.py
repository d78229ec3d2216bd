"""Saved models: safetensors files that rebuild the model they came from.

Widths change during a run (growth, pruning) and Avalanche's heads grow with
the classes, so a file carries, besides the tensors, the metadata to rebuild
the module those tensors fit: under the safetensors metadata key ``isocl``
a JSON object with

- ``format``: ``isocl-model/1``; ``kind``: ``isotropic-mlp`` (rebuilt by
  :func:`load_model`), ``model-kind`` (another kind of :mod:`isocl.nn.kinds`, named by
  ``model_kind``, rebuilt by its registered ``rebuild``) or ``state-dict`` (another architecture, e.g. PNN:
  the tensors only);
- ``config``: the :class:`~isocl.nn.models.MLPConfig` with the widths the
  model has when saved; the head shapes follow from the tensors;
- ``multitask``: attributes of Avalanche's multi-task modules that are not
  in a ``state_dict`` (``max_class_label``, ``known_train_tasks_labels``);
- ``strategy``, ``seed``, ``experience`` (the last trained experience, 0-based),
  ``benchmark`` (the unit's resolved benchmark table, to rebuild its scenario:
  ``isocl evaluate MODEL.safetensors``).

:func:`load_model` gives logits identical to the saved model's (tested on a
grown and pruned model). :func:`export_compressed` writes the
alternating-diagonal inference form (:class:`~isocl.nn.compressed.CompressedIsotropicMLP`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from isocl.bench.config import ConfigError
from isocl.bench.results import atomic_write_bytes, unit_stem

__all__ = [
    "FORMAT",
    "evaluate_saved_model",
    "export_compressed",
    "load_compressed",
    "load_model",
    "model_bytes",
    "model_metadata",
    "read_metadata",
    "save_model",
    "unit_model_files",
    "validate_metadata",
]

FORMAT = "isocl-model/1"
COMPRESSED_FORMAT = "isocl-compressed/1"
_KEY = "isocl"


def _is_isotropic_mlp(model: nn.Module) -> bool:
    from isocl.nn.models import IsotropicMLP, MultiHeadIsotropicMLP

    return isinstance(model, (IsotropicMLP, MultiHeadIsotropicMLP))


def _registered_kind(model: nn.Module) -> str | None:
    """The name of the non-isotropic model kind ``model`` was built as, if that kind can rebuild it."""
    from isocl.nn.kinds import kind_of_config

    try:
        kind = kind_of_config(getattr(model, "cfg", None))
    except TypeError:
        return None
    return kind.name if kind.rebuild is not None and not kind.isotropic else None


def model_metadata(model: nn.Module, **info: Any) -> dict[str, Any]:
    """What rebuilds ``model`` (its config at its present widths, multi-task attributes) plus ``info``."""
    meta: dict[str, Any] = {"format": FORMAT, "kind": "isotropic-mlp" if _is_isotropic_mlp(model) else "state-dict",
                            "class": type(model).__name__}
    if meta["kind"] == "isotropic-mlp":
        meta["config"] = {**asdict(model.cfg), "widths": list(model.widths)}
    elif (kind := _registered_kind(model)) is not None:  # another model kind (isocl.nn.kinds) that rebuilds itself
        meta.update(kind="model-kind", model_kind=kind, config=asdict(model.cfg))
    meta["multitask"] = {
        name: {"max_class_label": int(m.max_class_label),
               "known_train_tasks_labels": sorted(int(t) for t in m.known_train_tasks_labels)}
        for name, m in model.named_modules() if hasattr(m, "known_train_tasks_labels")
    }
    meta.update(info)
    return meta


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage and views: every tensor its own contiguous CPU copy
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}


def model_bytes(model: nn.Module, meta: dict[str, Any]) -> bytes:
    """The safetensors file of ``model`` with ``meta`` (see :func:`model_metadata`)."""
    from safetensors.torch import save

    return save(_tensors(model), metadata={_KEY: json.dumps(meta)})


def save_model(model: nn.Module, path: str | Path, **info: Any) -> Path:
    """Write ``model`` to ``path`` (atomically) with its metadata and ``info``."""
    atomic_write_bytes(Path(path), model_bytes(model, model_metadata(model, **info)))
    return Path(path)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``isocl`` metadata of a saved model (ConfigError if the file is not one)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(_KEY)
    except Exception as exc:  # noqa: BLE001 - any reader error: not a safetensors file
        raise ConfigError(f"{path}: not a safetensors file ({exc})") from None
    if raw is None:
        raise ConfigError(f"{path}: a safetensors file without isocl metadata (not saved by isocl)")
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{path}: its isocl metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: its isocl metadata is {type(meta).__name__}, expected a JSON object")
    return meta


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape, from the file's header (nothing is allocated)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except Exception as exc:  # noqa: BLE001 - any reader error: a damaged file
        raise ConfigError(f"{path}: not a readable safetensors file ({exc})") from None


def _schema_error(path: Path, key: str, value: Any, expected: str) -> ConfigError:
    shown = repr(value)
    return ConfigError(f"{path}: isocl metadata {key} = {shown[:80] + '...' if len(shown) > 80 else shown} is invalid; "
                       f"expected {expected}")


def _is_int(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _config_schema() -> dict[str, tuple[Any, str]]:
    """MLPConfig's fields: (check, expected). Widths are bounded like a benchmark's model.widths."""
    import math as _math

    from isocl.bench.config import MODEL, valid_layer_widths
    from isocl.nn.activations import SHAPES
    from isocl.nn.models import INITS

    def choice(options):
        return (lambda v: isinstance(v, str) and v in options, "one of " + ", ".join(map(repr, options)))

    boolean = (lambda v: isinstance(v, bool), "true or false")
    return {
        "in_features": (lambda v: _is_int(v, 3072, 3072), "3072 (a flattened CIFAR-10 image)"),
        "widths": (lambda v: isinstance(v, list) and valid_layer_widths(v), MODEL["widths"][3]),
        "shape": choice(tuple(SHAPES)),
        "isotropic": boolean,
        "hidden_bias": boolean,
        "head_bias": boolean,
        "intrinsic": choice(("off", "constant", "trainable")),
        "intrinsic_out": choice(("off", "constant", "trainable")),
        "o_init": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and _math.isfinite(v)
                   and 0 < v < 1e6, "a number in (0, 1e6)"),
        "init": choice(tuple(INITS)),
        "multi_head": boolean,
        "initial_classes": (lambda v: _is_int(v, 1, 10), "an int in [1, 10]"),
    }


def validate_metadata(meta: dict[str, Any], path: str | Path, shapes: dict[str, tuple[int, ...]] | None = None,
                      *, unit: bool = False) -> dict[str, Any]:
    """Check a saved model's ``isocl`` metadata against its schema before anything is built: format and
    kind, the strategy (registered), the seed, the experience (one of its benchmark's), the benchmark
    (a valid benchmark table whose setting matches the heads), the MLP config (each field's type and
    range; widths bounded as a benchmark's) and, given the tensors' ``shapes``, that the widths and heads
    are those of the tensors. ConfigError on the first problem, naming the file, the key and what is
    expected. ``unit``: the unit's keys (strategy, seed, experience, benchmark) are required, as
    ``isocl evaluate`` needs them to rebuild the scenario; else only those present are checked."""
    from isocl.bench.config import MAX_SEED, parse_benchmark

    path = Path(path)
    if meta.get("format") != FORMAT:
        raise _schema_error(path, "format", meta.get("format"), f"{FORMAT!r} (a compressed export is read by "
                            "isocl.bench.checkpoints.load_compressed)")
    if meta.get("kind") not in ("isotropic-mlp", "model-kind", "state-dict"):
        raise _schema_error(path, "kind", meta.get("kind"), "'isotropic-mlp', 'model-kind' or 'state-dict'")
    if meta["kind"] == "model-kind":
        from isocl.nn.kinds import MODEL_KINDS as MODEL_KIND_NAMES

        if meta.get("model_kind") not in MODEL_KIND_NAMES:
            raise _schema_error(path, "model_kind", meta.get("model_kind"), f"one of {list(MODEL_KIND_NAMES)}")
        if not isinstance(meta.get("config"), dict):
            raise _schema_error(path, "config", meta.get("config"), "a table of the model's settings")
    for key in ("strategy", "seed", "experience", "benchmark"):
        if key not in meta and unit:
            raise ConfigError(f"{path}: isocl metadata has no {key!r}; expected the strategy, seed, experience and "
                              "benchmark of the unit that saved it")
    n_exp = 1000  # tasks a multi-task module may know, without a benchmark to say how many
    bench = None
    if "benchmark" in meta:
        if not isinstance(meta["benchmark"], dict):
            raise _schema_error(path, "benchmark", meta["benchmark"], "a benchmark table")
        bench = parse_benchmark(meta["benchmark"], f"{path}: isocl metadata benchmark", None)
        n_exp = bench.scenario["n_experiences"]
    if "strategy" in meta:
        _check_strategy(path, meta["strategy"])
    if "seed" in meta and not _is_int(meta["seed"], 0, MAX_SEED):
        raise _schema_error(path, "seed", meta["seed"], "an int in [0, 2**32 - 1]")
    if "experience" in meta and not _is_int(meta["experience"], 0, n_exp - 1):
        raise _schema_error(path, "experience", meta["experience"],
                            f"an int in [0, {n_exp - 1}]" + (f" (its benchmark has {n_exp} experiences)" if bench else ""))
    multitask = meta.get("multitask", {})

    if not isinstance(multitask, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) and _is_int(v.get("max_class_label"), -1, 9)
            and len(v.get("known_train_tasks_labels") or []) <= n_exp
            and isinstance(v.get("known_train_tasks_labels"), list)
            and all(_is_int(t, 0, n_exp - 1) for t in v["known_train_tasks_labels"]) for k, v in multitask.items()):
        raise _schema_error(path, "multitask", multitask, "a table of module name to {max_class_label: an int in "
                            f"[-1, 9], known_train_tasks_labels: a list of tasks in [0, {n_exp - 1}]}}")
    if meta["kind"] != "isotropic-mlp":
        return meta
    cfg = meta.get("config")
    schema = _config_schema()
    if not isinstance(cfg, dict):
        raise _schema_error(path, "config", cfg, "a table of the MLP's settings")
    unknown = sorted(set(cfg) - set(schema))
    if unknown:
        raise ConfigError(f"{path}: isocl metadata config.{unknown[0]}: unknown key; expected {sorted(schema)}")
    for key, (check, expected) in schema.items():
        if key not in cfg:
            raise ConfigError(f"{path}: isocl metadata config has no {key!r}; expected {expected}")
        if not check(cfg[key]):
            raise _schema_error(path, f"config.{key}", cfg[key], expected)
    if bench is not None and cfg["multi_head"] != (bench.scenario["setting"] == "task_il"):
        raise ConfigError(f"{path}: isocl metadata config.multi_head = {cfg['multi_head']} does not match its "
                          f"benchmark's scenario.setting = {bench.scenario['setting']!r}; the scenario cannot be "
                          "rebuilt as saved")
    if shapes is not None:
        _check_shapes(path, cfg, shapes)
    return meta


def _check_strategy(path: Path, strategy: Any) -> None:
    from isocl.bench.registry import UnknownStrategy
    from isocl.bench.units import spec_of

    if not isinstance(strategy, str) or not 0 < len(strategy) <= 200:
        raise _schema_error(path, "strategy", strategy, "a strategy name")
    try:
        spec_of(strategy)  # fixed-final:X@p -> X
    except UnknownStrategy as exc:
        raise ConfigError(f"{path}: isocl metadata strategy = {strategy!r}: {exc}") from None


def _check_shapes(path: Path, cfg: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> None:
    """The widths of ``cfg`` are those of the tensors (each layer's weight rows), before any allocation."""
    widths = cfg["widths"]
    found = []
    while f"backbone.layers.{len(found)}.linear.weight" in shapes:
        shape = shapes[f"backbone.layers.{len(found)}.linear.weight"]
        if len(shape) != 2:
            raise ConfigError(f"{path}: tensor backbone.layers.{len(found)}.linear.weight has shape {list(shape)}; "
                              "expected a matrix")
        found.append(shape[0])
    if found != widths:
        raise ConfigError(f"{path}: isocl metadata config.widths = {widths} disagree with the tensors' widths {found}; "
                          "the file is damaged or its metadata was edited")
    heads = [k for k in shapes if k.startswith("head.") and k.endswith("classifier.weight")]
    if not heads or any(len(shapes[k]) != 2 or not 1 <= shapes[k][0] <= 10 for k in heads):
        raise ConfigError(f"{path}: the head tensors {sorted(heads)} are not those of a CIFAR-10 classifier "
                          "(1 to 10 outputs)")


def _fit(module: nn.Module, name: str, tensor: torch.Tensor) -> None:
    """Make ``module.name`` a parameter / buffer of ``tensor``'s shape and dtype (values come from load_state_dict)."""
    current = module._parameters.get(name, module._buffers.get(name))
    if current is not None and current.shape == tensor.shape and current.dtype == tensor.dtype:
        return
    if name in module._parameters:
        module._parameters[name] = nn.Parameter(torch.empty_like(tensor), requires_grad=current.requires_grad)
    else:
        module.register_buffer(name, torch.empty_like(tensor))


def _rebuild(meta: dict[str, Any], state: dict[str, torch.Tensor]) -> nn.Module:
    from avalanche.models import IncrementalClassifier

    from isocl.nn.models import MLPConfig, build_mlp

    model = build_mlp(MLPConfig(**meta["config"]))
    if meta["config"].get("multi_head"):
        head = model.head
        for key, tensor in state.items():
            m = re.fullmatch(r"head\.classifiers\.(\w+)\.classifier\.weight", key)
            if m and m.group(1) not in head.classifiers:
                head.classifiers[m.group(1)] = IncrementalClassifier(head.in_features, tensor.shape[0], masking=False,
                                                                     auto_adapt=False)
    for key, tensor in state.items():
        path, _, name = key.rpartition(".")
        _fit(model.get_submodule(path), name, tensor)
    for lin in model.modules():
        if isinstance(lin, nn.Linear):
            lin.out_features, lin.in_features = lin.weight.shape
    model.load_state_dict(state, strict=True)
    _restore_multitask(model, meta)
    return model


def _restore_multitask(model: nn.Module, meta: dict[str, Any]) -> None:
    for name, attrs in meta.get("multitask", {}).items():
        m = model.get_submodule(name)
        m.max_class_label = attrs["max_class_label"]
        m.known_train_tasks_labels = set(attrs["known_train_tasks_labels"])


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved isotropic MLP: ``(model in eval mode, metadata)``."""
    from safetensors.torch import load_file

    meta = validate_metadata(read_metadata(path), path, _shapes(Path(path)))
    if meta.get("kind") == "model-kind":
        from isocl.nn.kinds import rebuild_model

        state = load_file(str(path))
        try:
            model = rebuild_model(meta["model_kind"], meta["config"], state)
            model.load_state_dict(state, strict=True)
        except (RuntimeError, AttributeError, KeyError, ValueError, TypeError) as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ConfigError(f"{path}: the tensors do not fit the isocl metadata ({type(exc).__name__}: "
                              f"{text[:200]})") from None
        _restore_multitask(model, meta)
        return model.to(device).eval(), meta
    if meta.get("kind") != "isotropic-mlp":
        raise ConfigError(f"{path}: a {meta.get('class')} of strategy {meta.get('strategy')!r} is saved as a plain "
                          "state_dict; isocl rebuilds only its isotropic MLPs (load the tensors with safetensors)")
    try:
        model = _rebuild(meta, load_file(str(path)))
    except (RuntimeError, AttributeError, KeyError, ValueError, TypeError) as exc:  # checked, yet not these tensors
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(f"{path}: the tensors do not fit the isocl metadata ({type(exc).__name__}: {text[:200]})"
                          ) from None
    return model.to(device).eval(), meta


def unit_model_files(model: nn.Module, bench, strategy: str, seed: int, experience: int, *, final: bool,
                     every: bool) -> dict[str, bytes]:
    """The files a unit saves after ``experience``: ``models/<unit>/exp<i>.safetensors`` (``every``) and,
    ``final``, ``models/<unit>.safetensors``."""
    stem = unit_stem(strategy, seed)
    meta = model_metadata(model, strategy=strategy, seed=seed, experience=experience, benchmark=bench.to_dict())
    data = model_bytes(model, meta)
    files = {}
    if every:
        files[f"models/{stem}/exp{experience}.safetensors"] = data
    if final:
        files[f"models/{stem}.safetensors"] = data
    return files


# -- isocl evaluate MODEL.safetensors


@torch.no_grad()
def _accuracy(model: nn.Module, dataset, multitask: bool, batch: int, device) -> float:
    from isocl.bench.scenarios import stream_tensors

    x, y, t = stream_tensors(dataset.eval() if hasattr(dataset, "eval") else dataset)
    correct = 0
    for start in range(0, len(y), batch):
        xb, tb = x[start:start + batch].to(device), t[start:start + batch].to(device)
        out = model(xb, tb) if multitask else model(xb)
        correct += int((out.argmax(dim=1).cpu() == y[start:start + batch]).sum())
    return correct / max(1, len(y))


def evaluate_saved_model(path: str | Path, *, device: str | None = None, data: Any = None) -> dict[str, Any]:
    """A saved model on the test stream of its benchmark, experiences 0..experience (the ones it trained):
    ``{"accuracy": [per experience], "average": mean, "meta": metadata}``."""
    from isocl.bench.config import parse_benchmark
    from isocl.bench.data import load_cifar10
    from isocl.bench.scenarios import build_scenario

    device = device or "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine")
    validate_metadata(read_metadata(path), path, unit=True)  # what rebuilds the scenario, before the model
    model, meta = load_model(path, device)
    bench = parse_benchmark(meta["benchmark"], f"{path}: benchmark", None)
    scenario = build_scenario(bench, data if data is not None else load_cifar10(), meta["seed"])
    multitask = hasattr(model, "known_train_tasks_labels")
    accs = [_accuracy(model, exp.dataset, multitask, bench.training["eval_batch_size"], device)
            for exp in list(scenario.test_stream)[: meta["experience"] + 1]]
    return {"accuracy": accs, "average": sum(accs) / len(accs), "meta": meta}


def evaluate_model_command(path: str, device: str | None) -> int:
    res = evaluate_saved_model(path, device=device)
    meta = res["meta"]
    print(f"{path}: {meta['strategy']} seed {meta['seed']}, benchmark {meta['benchmark']['name']!r} "
          f"({meta['benchmark']['scenario']['setting']}), "
          f"{'widths ' + '-'.join(map(str, meta['config']['widths'])) if 'widths' in meta.get('config', {}) else meta.get('model_kind')}, "
          f"trained through experience {meta['experience']}")
    for i, acc in enumerate(res["accuracy"]):
        print(f"  test experience {i}: accuracy {acc * 100:.2f}%")
    print(f"average test accuracy: {res['average'] * 100:.2f}%")
    return 0


# -- isocl export DIR --unit NAME [--compressed]


def compressed_bytes(model: nn.Module, meta: dict[str, Any]) -> tuple[bytes, Any]:
    """The alternating-diagonal inference form of ``model`` as a safetensors file (and the module)."""
    from safetensors.torch import save

    from isocl.nn.compressed import CompressedIsotropicMLP

    comp = CompressedIsotropicMLP(model)
    info = {**{k: v for k, v in meta.items() if k not in ("format", "kind", "multitask")}, "format": COMPRESSED_FORMAT,
            "layout": comp.layout(), "head_sizes": [h.weight.shape[0] for h in model.head_linears()],
            "weight_count": comp.weight_count(), "dense_weight_count": comp.dense_weights}
    return save(_tensors(comp), metadata={_KEY: json.dumps(info)}), comp


def load_compressed(path: str | Path):
    """A compressed export: ``(CompressedIsotropicMLP, metadata)``; it returns every head's raw outputs, concatenated
    in task order (``metadata["head_sizes"]``)."""
    from safetensors.torch import load_file

    from isocl.nn.compressed import CompressedIsotropicMLP

    meta = read_metadata(path)
    if meta.get("format") != COMPRESSED_FORMAT:
        raise ConfigError(f"{path}: format {meta.get('format')!r}, expected {COMPRESSED_FORMAT!r}")
    return CompressedIsotropicMLP.from_state(meta["layout"], load_file(str(path))), meta


def export_compressed(results: str | Path, unit: str, out: str | Path | None = None, *,
                      compressed: bool = True) -> tuple[Path, dict[str, Any]]:
    """Export unit ``unit`` (e.g. ``neuro-prune-seed0``) of results folder ``results``; returns (file, metadata).

    ``compressed``: the alternating-diagonal form (default
    ``DIR/export/<unit>.compressed.safetensors``); else the dense model as
    saved (``DIR/export/<unit>.safetensors``).
    """
    results = Path(results)
    src = results / "models" / f"{unit}.safetensors"
    if not src.is_file():
        have = sorted(p.stem for p in (results / "models").glob("*.safetensors"))
        raise ConfigError(f"{results}: no saved model of unit {unit!r} (models/{unit}.safetensors); "
                          + (f"units with a model: {', '.join(have)}" if have else "this folder has no saved models"))
    model, meta = load_model(src)
    if compressed:
        data, _ = compressed_bytes(model, meta)
        dest = Path(out) if out else results / "export" / f"{unit}.compressed.safetensors"
    else:
        data = src.read_bytes()
        dest = Path(out) if out else results / "export" / f"{unit}.safetensors"
    _refuse_foreign_file(dest)
    atomic_write_bytes(dest, data)
    return dest, read_metadata(dest)


def _refuse_foreign_file(dest: Path) -> None:
    """Overwrite ``dest`` only if it is an earlier isocl export (issue 13: never destroy what isocl did not write)."""
    if not dest.exists() and not dest.is_symlink():
        return
    if not dest.is_file():
        raise ConfigError(f"--out {dest}: exists and is not a file; expected a .safetensors file path")
    try:
        fmt = str(read_metadata(dest).get("format", ""))
    except Exception:  # not safetensors, or no isocl metadata: a file isocl did not write
        fmt = ""
    if not fmt.startswith("isocl-"):
        raise ConfigError(f"--out {dest}: exists and was not written by isocl export; choose a new file name")


def export_command(args) -> int:
    dest, meta = export_compressed(args.results, args.unit, args.out, compressed=args.compressed)
    if args.compressed:
        print(f"{dest}: compressed {meta['strategy']} seed {meta['seed']}, widths "
              f"{'-'.join(map(str, meta['config']['widths']))}: {meta['weight_count']:,} neuron-to-neuron weights "
              f"(dense: {meta['dense_weight_count']:,})")
    else:
        print(f"{dest}: {meta['strategy']} seed {meta['seed']}, widths {'-'.join(map(str, meta['config']['widths']))}")
    return 0
