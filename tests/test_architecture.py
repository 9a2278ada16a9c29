"""Architecture detectors (grader/architecture) on real Keras files.

The models are built with Keras 3 here, in the test process (the test's own
code, not a student's), saved as .keras and legacy .h5, and read back the way
the grader reads a student's file: read_model_meta in its child process, the
config as JSON, nothing deserialized. Keras 2 formats come from real Keras 2
files in ../shared (Sequential) rewritten into the functional inbound_nodes
format Keras 2.2-2.13 writes, and from tf_keras (SavedModel keras_metadata.pb).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_models import runtime_image, sandbox  # noqa: E402,F401
import week06_material  # noqa: E402

from grader.architecture import (  # noqa: E402
    DETECTORS, GraphError, graph_from_config, graph_from_plain, run_detector,
)
from grader.readers import read_model_meta  # noqa: E402

keras = pytest.importorskip("keras")
layers = keras.layers
SHARED_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "real-world-samples"


# ------------------------------------------------------------- the models


def conv_bn(x, filters, kernel, name, strides=1, relu=True):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def resnet20(skip: bool = True):
    """ResNet-20 for 32x32 images (He et al. 2015, section 4.2): a 3x3 stem and
    3 stages of 3 blocks; the first block of stages 2 and 3 halves the size
    and projects its shortcut with a strided 1x1 convolution. Narrow (4/8/16
    filters): the structure is what counts here."""
    inputs = keras.Input((32, 32, 3), name="image")
    x = conv_bn(inputs, 4, 3, "stem")
    for stage, filters in enumerate((4, 8, 16), start=1):
        for block in range(1, 4):
            name = f"s{stage}b{block}"
            strides = 2 if stage > 1 and block == 1 else 1
            y = conv_bn(x, filters, 3, f"{name}_1", strides=strides)
            y = conv_bn(y, filters, 3, f"{name}_2", relu=False)
            if skip:
                shortcut = x
                if strides != 1:
                    shortcut = layers.Conv2D(filters, 1, strides=strides, name=f"{name}_proj")(x)
                y = layers.Add(name=f"{name}_add")([y, shortcut])
            x = layers.Activation("relu", name=f"{name}_out")(y)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", name="predictions")(x),
                       name="resnet20" if skip else "resnet20_no_skip")


def small_inception():
    return week06_material.inception(keras, reduce_between=True, name="mini_inception")


def inception_in_name_only():
    """Called an Inception net, it is a plain stack of 1x1, 3x3 and 5x5 convolutions."""
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for kernel in (1, 3, 5, 1, 3, 5):
        x = layers.Conv2D(4, kernel, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x), name="inception")


def plain_cnn():
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.RandomFlip("horizontal", name="flip"),
        layers.Conv2D(8, 3, activation="relu", name="conv1"), layers.MaxPooling2D(name="pool1"),
        layers.Conv2D(16, 3, activation="relu", name="conv2"), layers.MaxPooling2D(name="pool2"),
        layers.Flatten(), layers.Dropout(0.5, name="drop"), layers.Dense(10, activation="softmax"),
    ], name="cnn")


def save(model, folder: Path, name: str) -> dict[str, Path]:
    """The model as .keras and as legacy .h5, the two files a student hands in."""
    paths = {"keras": folder / f"{name}.keras", "h5": folder / f"{name}.h5"}
    model.save(paths["keras"])
    model.save(paths["h5"])
    return paths


def config_only_keras(model, path: Path) -> Path:
    """A .keras file holding the model's config.json and metadata.json (what
    model.save writes first), without the weights: the keras.applications
    networks are large, and the detectors read the config only."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", model.to_json())
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__, "backend": "tensorflow"}))
    return path


@pytest.fixture(scope="module")
def own_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    return {
        "resnet20": save(resnet20(), folder, "resnet20"),
        "no_skip": save(resnet20(skip=False), folder, "no_skip"),
        "inception": save(small_inception(), folder, "inception"),
        "fake_inception": save(inception_in_name_only(), folder, "fake_inception"),
        "cnn": save(plain_cnn(), folder, "cnn"),
    }


def host_graph(path: Path):
    """The layer graph as grading reads it: the metadata child process, then validation."""
    meta = read_model_meta(path)
    assert meta.layer_graph is not None, meta.notes
    return graph_from_plain(meta.layer_graph, source="config")


def verdicts(graph, **params):
    return {d: run_detector(d, graph, params.get(d)) for d in ("residual", "inception", "plain", "application")}


# ------------------------------------------------------------ own models


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_resnet20_has_nine_residual_blocks_two_with_projection_shortcuts(own_models, fmt):
    graph = host_graph(own_models["resnet20"][fmt])
    found = verdicts(graph, residual={"min_blocks": 9})
    residual = found["residual"]
    assert (residual.found, residual.count) == (True, 9)
    assert residual.summary == "9 residual blocks (2 with a 1x1 projection shortcut), at least 9 required"
    blocks = {block["add"]: block for block in residual.evidence["blocks"]}
    assert sorted(blocks) == sorted(f"s{s}b{b}_add" for s in (1, 2, 3) for b in (1, 2, 3))
    assert blocks["s1b1_add"] == {
        "add": "s1b1_add", "input": "stem_relu", "shortcut": [], "shortcut_kind": "identity",
        "main": ["s1b1_1_conv", "s1b1_1_bn", "s1b1_1_relu", "s1b1_2_conv", "s1b1_2_bn"]}
    assert blocks["s2b1_add"]["input"] == "s1b3_out"
    assert (blocks["s2b1_add"]["shortcut"], blocks["s2b1_add"]["shortcut_kind"]) == (["s2b1_proj"], "projection")
    assert blocks["s3b1_add"]["shortcut"] == ["s3b1_proj"]
    assert not found["plain"].found and not found["inception"].found and not found["application"].found
    assert run_detector("residual", graph, {"min_blocks": 10}).found is False


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_a_resnet_without_skip_connections_is_a_plain_stack(own_models, fmt):
    found = verdicts(host_graph(own_models["no_skip"][fmt]), residual={"min_blocks": 3})
    assert (found["residual"].found, found["residual"].count) == (False, 0)
    assert found["residual"].summary == "no residual block: no layer adds a skip connection to a block's output"
    # the stem's 3 layers, 9 blocks of 6 (conv, bn, relu, conv, bn, relu), the pooling and the classifier
    assert found["plain"].found and found["plain"].count == 59
    assert found["plain"].evidence["stack"][:4] == ["stem_conv", "stem_bn", "stem_relu", "s1b1_1_conv"]


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_small_inception_has_two_modules_with_their_branches(own_models, fmt):
    graph = host_graph(own_models["inception"][fmt])
    inception = run_detector("inception", graph, {"min_modules": 2})
    assert (inception.found, inception.count) == (True, 2)
    first = inception.evidence["modules"][0]
    assert (first["concatenate"], first["input"]) == ("inc1_concat", "stem")
    assert [(b["layers"], b["receptive_field"], b["pooling"]) for b in first["branches"]] == [
        (["inc1_1x1"], "1x1", False),
        (["inc1_3x3_reduce", "inc1_3x3"], "3x3", False),
        (["inc1_5x5_reduce", "inc1_5x5"], "5x5", False),
        (["inc1_pool", "inc1_pool_proj"], "3x3", True),
    ]
    assert first["branches"][3]["windows"] == ["3x3 MaxPooling2D", "1x1 Conv2D"]
    assert inception.evidence["modules"][1]["input"] == "reduce"
    assert "branch receptive fields: 1x1 / 3x3 / 5x5 / 3x3 pool" in inception.summary
    assert not run_detector("plain", graph).found and not run_detector("residual", graph).found


def test_an_inception_in_name_only_is_a_plain_cnn(own_models):
    found = verdicts(host_graph(own_models["fake_inception"]["keras"]))
    assert (found["inception"].found, found["inception"].count) == (False, 0)
    assert found["inception"].summary == "no Inception module: no layer concatenates parallel branches"
    assert found["plain"].found


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_plain_cnn_with_its_dropout_and_augmentation_layers(own_models, fmt):
    graph = host_graph(own_models["cnn"][fmt])
    assert run_detector("plain", graph).found
    dropout, augmentation = run_detector("dropout", graph), run_detector("augmentation", graph)
    assert (dropout.found, dropout.evidence["layers"]) == (True, [{"name": "drop", "kind": "Dropout"}])
    assert (augmentation.found, augmentation.summary) == (True, "1 data-augmentation layer(s): flip")


def test_concatenating_two_branches_or_branches_of_one_receptive_field_is_no_module():
    inputs = keras.Input((16, 16, 3))
    twins = [layers.Conv2D(4, 3, padding="same")(inputs) for _ in range(3)]   # three 3x3 branches
    pair = [layers.Conv2D(4, 1)(inputs), layers.Conv2D(4, 3, padding="same")(inputs)]
    x = layers.Concatenate(name="same_fields")(twins)
    y = layers.Concatenate(name="two_branches")(pair)
    model = keras.Model(inputs, layers.Concatenate()([x, y]))
    inception = run_detector("inception", graph_from_config(json.loads(model.to_json())))
    assert (inception.found, inception.count) == (False, 0)
    assert "same_fields" in inception.evidence["concatenations"]


# -------------------------------------------------- keras.applications


@pytest.fixture(scope="module")
def applications(tmp_path_factory):
    folder = tmp_path_factory.mktemp("apps")
    apps = keras.applications
    built = {
        "ResNet50": apps.ResNet50(weights=None),
        "InceptionV3": apps.InceptionV3(weights=None, input_shape=(75, 75, 3)),
        "VGG16": apps.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)),
    }
    base = apps.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3))
    base.trainable = False
    built["nested MobileNetV2"] = keras.Sequential([keras.Input((32, 32, 3)), base, layers.GlobalAveragePooling2D(),
                                                    layers.Dense(10, activation="softmax")])
    return {name: config_only_keras(model, folder / f"{name.replace(' ', '_')}.keras") for name, model in built.items()}


def test_resnet50_used_whole_is_recognised_with_its_sixteen_blocks(applications):
    graph = host_graph(applications["ResNet50"])
    found = verdicts(graph)
    app = found["application"]
    assert app.found and app.summary == ("keras.applications ResNet50 used whole: 16 of its 16 blocks found by "
                                         "name and structure")
    network = app.evidence["networks"][0]
    assert (network["network"], network["blocks"], network["prefix"]) == ("ResNet50", 16, "")
    assert network["block_layers"][:2] == ["conv2_block1_add", "conv2_block2_add"]
    assert (found["residual"].count, found["plain"].found) == (16, False)
    projections = [b["add"] for b in found["residual"].evidence["blocks"] if b["shortcut_kind"] == "projection"]
    assert projections == ["conv2_block1_add", "conv3_block1_add", "conv4_block1_add", "conv5_block1_add"]


def test_a_model_named_resnet50_is_not_resnet50(own_models):
    """The name is not evidence: a ResNet-20 called "resnet50" is no keras.applications network."""
    renamed = json.loads(resnet20().to_json())
    renamed["config"]["name"] = "resnet50"
    app = run_detector("application", graph_from_config(renamed))
    assert (app.found, app.summary) == (False, "no keras.applications network used whole")


def test_inception_v3_used_whole_has_its_eleven_mixed_modules(applications):
    found = verdicts(host_graph(applications["InceptionV3"]))
    assert found["application"].evidence["networks"][0]["network"] == "InceptionV3"
    assert found["inception"].count == 11
    mixed0 = found["inception"].evidence["modules"][0]
    assert mixed0["concatenate"] == "mixed0"
    assert [b["receptive_field"] for b in mixed0["branches"]] == ["1x1", "5x5", "5x5", "3x3"]
    assert found["residual"].count == 0


def test_vgg16_is_a_plain_stack_and_still_keras_applications(applications):
    found = verdicts(host_graph(applications["VGG16"]))
    assert found["plain"].found
    assert found["application"].summary.startswith("keras.applications VGG16 used whole: 13 of its 13 blocks")


def test_mobilenetv2_nested_in_a_sequential_is_found_and_its_frozen_layers_counted(applications):
    graph = host_graph(applications["nested MobileNetV2"])
    app = run_detector("application", graph)
    network = app.evidence["networks"][0]
    assert (network["network"], network["prefix"], network["blocks"]) == ("MobileNetV2", "mobilenetv2_1.00_32", 10)
    assert network["frozen_layers"] == network["layers"] > 100
    assert "(nested as mobilenetv2_1.00_32)" in app.summary
    assert run_detector("residual", graph).evidence["blocks"][0]["add"] == "mobilenetv2_1.00_32/block_2_add"


# ----------------------------------------------------------- Keras 2 files


def _real_keras2_file() -> Path:
    path = SHARED_SAMPLES / "samantoz" / "assignment06" / "results" / "assignment_6.2b_cifar10.h5"
    if not path.is_file():
        pytest.skip("../shared/real-world-samples is absent")
    return path


def _as_keras2_functional(sequential: dict) -> dict:
    """A Keras 2 Sequential config rewritten as the Functional config Keras
    2.2-2.13 writes for the same network: inbound_nodes as
    ``[[["previous", 0, 0, {}]]]``, input_layers and output_layers."""
    layers_in = copy.deepcopy(sequential["config"]["layers"])
    first = layers_in[0]["config"]
    shape = first.get("batch_input_shape")
    out = [{"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
            "config": {"batch_input_shape": shape, "dtype": "float32", "sparse": False, "name": "input_1"}}]
    previous = "input_1"
    for layer in layers_in:
        layer["name"] = layer["config"]["name"]
        layer["inbound_nodes"] = [[[previous, 0, 0, {}]]]
        previous = layer["name"]
        out.append(layer)
    return {"class_name": "Functional", "config": {"name": "model", "layers": out,
                                                     "input_layers": [["input_1", 0, 0]],
                                                     "output_layers": [[previous, 0, 0]]}}


def _with_model_config(source: Path, target: Path, config: dict) -> Path:
    """A copy of a real Keras 2 .h5 with its model_config attribute replaced
    (h5py here is the test's own code writing a fixture)."""
    import h5py

    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as h5:
        h5.attrs["model_config"] = json.dumps(config)
    return target


@pytest.mark.shared
def test_real_keras2_sequential_and_its_functional_rewrite_are_plain_with_dropout(tmp_path):
    source = _real_keras2_file()
    sequential = host_graph(source)
    kinds = [layer.kind for layer in sequential.layers]
    assert kinds.count("Dropout") == 4 and kinds[:2] == ["Conv2D", "MaxPooling2D"]
    import h5py

    with h5py.File(source, "r") as h5:
        config = json.loads(h5.attrs["model_config"])
    functional = host_graph(_with_model_config(source, tmp_path / "functional.h5", _as_keras2_functional(config)))
    assert functional.model_class == "Functional"
    assert [layer.name for layer in functional.layers][1:] == [layer.name for layer in sequential.layers]
    for graph in (sequential, functional):
        assert run_detector("plain", graph).found
        dropout = run_detector("dropout", graph)
        assert dropout.summary == "4 dropout layer(s): dropout_11, dropout_12, dropout_13, dropout_14"
        assert not run_detector("residual", graph).found


@pytest.mark.shared
def test_keras2_functional_residual_written_with_a_tfoplambda_add(tmp_path):
    """`x + y` on Keras 2 symbolic tensors is a TFOpLambda whose second operand sits in the kwargs."""
    def conv(name, inbound):
        return {"class_name": "Conv2D", "name": name, "inbound_nodes": [[[inbound, 0, 0, {}]]],
                "config": {"name": name, "filters": 8, "kernel_size": [3, 3], "strides": [1, 1], "trainable": True}}
    config = {"class_name": "Functional", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 32, 32, 3], "name": "input_1"}},
        conv("stem", "input_1"), conv("a", "stem"), conv("b", "a"),
        {"class_name": "TFOpLambda", "name": "tf.__operators__.add", "config": {
            "name": "tf.__operators__.add", "function": "__operators__.add", "trainable": True},
         "inbound_nodes": [["b", 0, 0, {"y": ["stem", 0, 0], "name": None}]]},
        {"class_name": "Flatten", "name": "flatten", "config": {"name": "flatten"},
         "inbound_nodes": [[["tf.__operators__.add", 0, 0, {}]]]},
    ], "input_layers": [["input_1", 0, 0]], "output_layers": [["flatten", 0, 0]]}}
    graph = host_graph(_with_model_config(_real_keras2_file(), tmp_path / "residual.h5", config))
    residual = run_detector("residual", graph)
    assert residual.count == 1
    assert residual.evidence["blocks"][0] == {"add": "tf.__operators__.add", "input": "stem", "main": ["a", "b"],
                                              "shortcut": [], "shortcut_kind": "identity"}


def test_keras_before_2_2_lists_the_layers_as_the_config_itself():
    old = {"class_name": "Sequential", "config": [
        {"class_name": "Conv2D", "config": {"name": "c", "kernel_size": [3, 3], "batch_input_shape": [None, 28, 28, 1]}},
        {"class_name": "Dropout", "config": {"name": "d", "rate": 0.5}},
        {"class_name": "Dense", "config": {"name": "out", "units": 10}}]}
    graph = graph_from_config(old)
    assert [(l.name, l.inbound) for l in graph.layers] == [("c", ()), ("d", ("c",)), ("out", ("d",))]
    assert run_detector("plain", graph).found and run_detector("dropout", graph).count == 1


def test_tf_keras_savedmodel_functional_resnet_is_read_from_keras_metadata(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    inputs = tf_keras.Input((16, 16, 3))
    x = tf_keras.layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    y = tf_keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
    y = tf_keras.layers.Conv2D(4, 3, padding="same", name="c2")(y)
    y = tf_keras.layers.Add(name="join")([x, y])
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(10)(tf_keras.layers.Flatten()(y)))
    model.save(tmp_path / "saved", save_format="tf")
    graph = host_graph(tmp_path / "saved")
    residual = run_detector("residual", graph)
    assert residual.count == 1 and residual.evidence["blocks"][0]["main"] == ["c1", "c2"]


# ---------------------------------------------- untrusted data, the registry


def test_the_sandbox_graph_is_validated_as_untrusted_data():
    good = {"layers": [{"name": "a", "kind": "Conv2D", "inbound": [], "kernel_size": [3, 3]},
                       {"name": "b", "kind": "Add", "inbound": ["a", "ghost", "b"]}]}
    graph = graph_from_plain(good)
    assert graph.get("b").inbound == ("a",)      # unknown and self edges dropped
    for bad in ({"layers": "x"}, {"layers": [{"name": 3, "kind": "Dense"}]},
                {"layers": [{"name": "a", "kind": "Conv2D", "kernel_size": [0, -1]}]},
                {"layers": [{"name": "a" * 500, "kind": "Dense"}]},
                {"layers": [{"name": "a", "kind": "Dense"}, {"name": "a", "kind": "Dense"}]},
                {"layers": [{"name": f"l{i}", "kind": "Dense"} for i in range(6000)]}):
        with pytest.raises(GraphError):
            graph_from_plain(bad)


def test_detectors_say_when_the_edges_are_unknown_and_when_the_rubric_is_wrong():
    from grader.architecture.graph import graph_from_layer_kinds

    kinds_only = graph_from_layer_kinds(["Conv2D", "Dropout", "Dense"])
    residual = run_detector("residual", kinds_only)
    assert residual.verifiable is False and "does not say how its layers connect" in residual.summary
    assert run_detector("dropout", kinds_only).found is True
    typo = run_detector("residual", kinds_only, {"min_block": 2})
    assert (typo.verifiable, typo.summary) == (False, "detector 'residual' has no parameter min_block "
                                                      "(it takes: min_blocks)")
    assert sorted(DETECTORS) == ["application", "augmentation", "dropout", "inception", "plain", "residual"]


# ------------------------------------------------- the check, from a rubric


def test_architecture_matches_scores_the_declared_detectors(own_models, applications):
    from grader.checks.registry import CheckContext, run_check
    from grader.discover.contents import Contents, PartFiles
    from grader.records import FoundFile, Layout, Role
    from grader.rubric import Architecture, CheckSpec, load

    rubric = load("assignment06")
    part = rubric.part("6.1").model_copy(update={"architecture": Architecture.model_validate(
        {"detectors": [{"id": "residual", "min_blocks": 9, "weight": 2}, {"id": "application", "expect": False}]})})

    def grade(path: Path):
        files = PartFiles(part.id, model=FoundFile(path.name, Role.MODEL, part.id, 0.9))
        files.model_meta = read_model_meta(path)
        ctx = CheckContext(rubric, part, rubric.dataset_of(part), files, Contents({part.id: files}, []),
                           Layout(path.parent), [])
        return run_check(CheckSpec(id="architecture_matches", points=3), ctx)

    good = grade(own_models["resnet20"]["keras"])
    assert (good.score, good.passed) == (3.0, True)
    assert good.message == ("9 residual blocks (2 with a 1x1 projection shortcut), at least 9 required, "
                            "no keras.applications network used whole as required")
    assert good.evidence["detectors"]["residual"]["evidence"]["blocks"][0]["add"] == "s1b1_add"
    no_skip = grade(own_models["no_skip"]["h5"])
    assert no_skip.score == pytest.approx(1.0)
    assert no_skip.message.endswith("6.1: the model must have at least 9 residual block(s)")
    whole = grade(applications["ResNet50"])
    assert whole.score == pytest.approx(2.0)
    assert whole.message.endswith("6.1: the model must not be a keras.applications network used whole: "
                                  "build the network yourself")


def _runner_module():
    """The sandbox's runner.py, imported as a file (it never imports the grader)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "grader" / "evaluate" / "runtime" / "runner.py"
    spec = importlib.util.spec_from_file_location("sandbox_runner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SubclassedResNet(keras.Model):
    """Keras 3, subclassed, with its skip connections written as `x + y` in call."""

    def __init__(self):
        super().__init__(name="subnet")
        self.stem = layers.Conv2D(8, 3, padding="same", name="stem")
        self.c1 = layers.Conv2D(8, 3, padding="same", name="c1")
        self.c2 = layers.Conv2D(8, 3, padding="same", name="c2")
        self.pool = layers.GlobalAveragePooling2D(name="pool")
        self.out = layers.Dense(10, activation="softmax", name="out")

    def call(self, x):
        x = self.stem(x)
        return self.out(self.pool(keras.ops.relu(self.c2(self.c1(x)) + x)))


def test_the_runner_traces_a_subclassed_model_and_the_check_uses_that_graph(tmp_path):
    """What the sandbox does with a loaded model, here in the test process: the
    trace finds the `x + y` block a config never showed, and architecture_matches
    grades on it when the host has no graph."""
    from grader.checks.registry import CheckContext, run_check
    from grader.discover.contents import Contents, PartFiles
    from grader.records import FoundFile, Layout, ModelEvaluation, ModelMeta, Role
    from grader.rubric import Architecture, CheckSpec, load

    model = SubclassedResNet()
    model(np.zeros((1, 32, 32, 3), np.float32))
    runner = _runner_module()
    traced = runner.trace_layer_graph(runner.KerasModel(model), [32, 32, 3])
    graph = graph_from_plain(json.loads(json.dumps(traced)), source="sandbox")
    residual = run_detector("residual", graph)
    assert residual.count == 1
    block = residual.evidence["blocks"][0]
    assert (block["input"], block["main"], block["shortcut_kind"]) == ("stem", ["c1", "c2"], "identity")
    assert graph.get("stem").kernel_size == (3, 3) and graph.get("stem").inbound == ("input",)
    assert model(np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 10)   # the layers' own call is back

    rubric = load("assignment06")
    part = rubric.part("6.1").model_copy(update={"architecture": Architecture.model_validate(
        {"detectors": [{"id": "residual", "min_blocks": 1}]})})
    files = PartFiles(part.id, model=FoundFile("results/subnet.keras", Role.MODEL, part.id, 0.9))
    files.model_meta = ModelMeta(format="keras", class_name="SubclassedResNet", layer_graph=None)
    evaluation = ModelEvaluation(part.id, "results/subnet.keras", ok=True, layer_graph=traced)
    ctx = CheckContext(rubric, part, rubric.dataset_of(part), files, Contents({part.id: files}, []),
                       Layout(tmp_path), [], evaluation=evaluation)
    result = run_check(CheckSpec(id="architecture_matches", points=2), ctx)
    assert (result.score, result.passed) == (2.0, True)
    assert result.evidence["detectors"]["residual"]["graph"] == "sandbox"
    ctx.evaluation = None
    unseen = run_check(CheckSpec(id="architecture_matches", points=2), ctx)
    assert unseen.score == 0.0
    assert unseen.message == (
        "residual: the saved model does not show its layers (a subclassed model saved without a config?); "
        "6.1: could not check that the model does have at least 1 residual block(s): build it with the functional "
        "API or Sequential and save it with model.save('model.keras'), so its layers can be read")


# ------------------------------------------------------------- the sandbox


class Net:
    """A subclassed tf_keras model with `x + y` skips in its call, saved as a
    SavedModel: its keras_metadata.pb has no layer list, so only the sandbox,
    which loads it, can see its blocks."""

    @staticmethod
    def build(tf_keras, tf):
        class Block(tf_keras.layers.Layer):
            def __init__(self, filters, **kwargs):
                super().__init__(**kwargs)
                self.c1 = tf_keras.layers.Conv2D(filters, 3, padding="same", name="c1")
                self.c2 = tf_keras.layers.Conv2D(filters, 3, padding="same", name="c2")
                self.proj = tf_keras.layers.Conv2D(filters, 1, name="proj")

            def call(self, x):
                return tf.nn.relu(self.c2(self.c1(x)) + self.proj(x))

        class Model(tf_keras.Model):
            def __init__(self):
                super().__init__(name="net")
                self.stem = tf_keras.layers.Conv2D(8, 3, padding="same", name="stem")
                self.b1, self.b2 = Block(8, name="block1"), Block(16, name="block2")
                self.pool = tf_keras.layers.GlobalAveragePooling2D(name="pool")
                self.out = tf_keras.layers.Dense(10, activation="softmax", name="out")

            def call(self, x):
                x = self.stem(x)
                return self.out(self.pool(self.b2(self.b1(x) + x)))

        return Model()


@pytest.mark.slow
def test_the_sandbox_traces_a_subclassed_savedmodel_and_confirms_a_functional_one(sandbox, own_models, tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    import tensorflow as tf

    from grader.evaluate import ModelJob, evaluate_submission
    from grader.limits import SandboxLimits

    submission = tmp_path / "submission"
    (submission / "results").mkdir(parents=True)
    model = Net.build(tf_keras, tf)
    model(tf.zeros((1, 32, 32, 3)))
    model.save(submission / "results" / "subclassed", save_format="tf")
    shutil.copyfile(own_models["resnet20"]["keras"], submission / "results" / "resnet20.keras")
    meta = read_model_meta(submission / "results" / "subclassed")
    assert meta.layer_graph is None   # the host sees no layers in a subclassed model's metadata

    jobs = [ModelJob(part=p, path=f"results/{name}", dataset="cifar10", scaling="unit", input_shape=(32, 32, 3),
                     num_classes=10) for p, name in (("sub", "subclassed"), ("res", "resnet20.keras"))]
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    evaluation = evaluate_submission(submission, jobs, [], {"cifar10": images}, None, sandbox,
                                     SandboxLimits(timeout_seconds=240), tmp_path / "work")
    assert evaluation.status == "ok", evaluation.message
    sub = evaluation.models["sub"]
    assert sub.ok, sub.message
    traced = graph_from_plain(sub.layer_graph, source="sandbox")
    residual = run_detector("residual", traced)
    assert residual.count == 3
    blocks = {block["add"]: block for block in residual.evidence["blocks"]}
    assert sorted(blocks) == ["net/add", "net/block1/add", "net/block2/add"]
    assert (blocks["net/add"]["shortcut_kind"], blocks["net/add"]["input"]) == ("identity", "net/stem")
    assert blocks["net/block1/add"]["main"] == ["net/block1/c1", "net/block1/c2"]
    assert blocks["net/block1/add"]["shortcut"] == ["net/block1/proj"]
    res = evaluation.models["res"]
    assert res.ok, res.message
    in_sandbox = run_detector("residual", graph_from_plain(res.layer_graph, source="sandbox"))
    on_host = run_detector("residual", host_graph(own_models["resnet20"]["keras"]))
    assert in_sandbox.count == on_host.count == 9
    assert sorted(b["add"] for b in in_sandbox.evidence["blocks"]) == sorted(b["add"] for b in on_host.evidence["blocks"])
