"""The keras.applications ImageNet weights files a transfer-learning rubric
needs: where they are looked for, what `grade data fetch` lists and says when
the network does not allow a download, and the rubric that names them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import datasets
from grader import rubric as rubric_lib
from grader.checks import unknown_checks
from grader.checks.transfer import blocks
from grader.datasets import DataMissing

VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.fixture
def homes(tmp_path, monkeypatch):
    """A data folder and a separate Keras cache (KERAS_HOME), both empty."""
    data, keras_home = tmp_path / "data", tmp_path / "keras-home"
    data.mkdir()
    (keras_home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.delenv("GRADER_DATA_DIR", raising=False)
    return data, keras_home


def test_weights_are_found_in_the_data_folder_then_where_keras_keeps_them(homes):
    data, keras_home = homes
    with pytest.raises(DataMissing) as caught:
        datasets.find_weights("VGG16", None, data)
    message = str(caught.value)
    assert message.startswith(f"the VGG16 ImageNet weights: not found. Looked for {VGG16_FILE} in:\n")
    assert f"  {data / 'datasets'}\n  {data / 'models'}\n  {data}\n  {keras_home / 'models'}\n" in message
    assert "`grade data fetch` downloads it where the network allows" in message
    assert f"into {data / 'models'}/" in message
    (keras_home / "models" / VGG16_FILE).write_bytes(b"h5")
    assert datasets.find_weights("VGG16", None, data) == keras_home / "models" / VGG16_FILE
    (data / "models").mkdir()
    (data / "models" / VGG16_FILE).write_bytes(b"h5")
    assert datasets.find_weights("VGG16", VGG16_FILE, data) == data / "models" / VGG16_FILE


def test_the_urls_are_the_ones_keras_downloads_from():
    import keras.src.applications.mobilenet_v2 as mobilenet_v2
    import keras.src.applications.vgg16 as vgg16

    assert datasets.APPLICATIONS["VGG16"].url() == vgg16.WEIGHTS_PATH_NO_TOP
    mobile = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"
    assert datasets.APPLICATIONS["MobileNetV2"].url(mobile) == mobilenet_v2.BASE_WEIGHT_PATH + mobile
    assert datasets.APPLICATIONS["ResNet50"].url().endswith("/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")


def test_the_transfer_rubric_names_its_files_and_checks():
    rubric = rubric_lib.load("transfer_learning")
    assert unknown_checks(rubric) == [] and rubric.total_points == 100
    assert [part.id for part in rubric.parts] == ["feature_extraction", "fine_tuning"]
    assert set(rubric.pretrained_weights) == {"VGG16", "ResNet50", "InceptionV3", "MobileNetV2"}
    assert rubric.pretrained_weights["MobileNetV2"].endswith("_1.0_96_no_top.h5")     # the data set's 96x96
    assert rubric.datasets["images"].loader == "image-folder" and rubric.datasets["images"].input_shape == [96, 96, 3]
    assert all({"pretrained_base", "base_weights_pretrained", "head_replaced", "accuracy_vs_baseline",
                "reported_metrics_match", "predictions_match_model", "plots_valid", "architecture_matches"}
               <= {c.id for c in part.checks} for part in rubric.parts)
    assert "fine_tuned_layers" in {c.id for c in rubric.part("fine_tuning").checks}


def test_an_unknown_network_in_the_rubric_is_refused(tmp_path):
    text = (Path(rubric_lib.rubrics_dir()) / "transfer_learning.toml").read_text()
    text = text.replace('VGG16 = "vgg16', 'AlexNet = "alexnet.h5"\nVGG16 = "vgg16')
    text = text.replace('baselines_file = "transfer_learning.baselines.toml"', "")
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(rubric_lib.RubricError, match=r"key pretrained_weights: .*no ImageNet weights known for "
                                                     r"\['AlexNet'\]"):
        rubric_lib.load(tmp_path / "bad.toml")


def test_grade_data_fetch_lists_what_the_rubric_needs_and_says_where_to_put_what_it_cannot_download(
        homes, monkeypatch):
    """No network here: Keras's downloader fails, and the message gives the URL it used and the place for the file."""
    import keras

    from grader.cli import main

    data, _ = homes
    (data / "models").mkdir()
    (data / "models" / VGG16_FILE).write_bytes(b"h5")
    asked = []

    def offline(name, origin, **kwargs):
        asked.append((name, origin, kwargs.get("cache_subdir")))
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    runner = CliRunner()
    listed = runner.invoke(main, ["data", "fetch", "--list", "--rubric", "transfer_learning", "--data-dir", str(data)])
    assert listed.exit_code == 0, listed.output
    text = " ".join(listed.output.split())
    assert f"found VGG16 ImageNet weights ({VGG16_FILE}): {data / 'models' / VGG16_FILE}" in text
    assert "missing ResNet50 ImageNet weights (resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5)" in text
    assert "missing data set images (image-folder)" in text and "cannot be fetched" in text
    assert asked == []                                    # --list downloads nothing

    fetched = runner.invoke(main, ["data", "fetch", "--rubric", "transfer_learning", "--data-dir", str(data)])
    assert fetched.exit_code == 1
    failure = " ".join(fetched.output.split())
    assert [name for name, _, _ in asked] == ["resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                                              "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                                              "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"]
    resnet_url = datasets.APPLICATIONS["ResNet50"].url()
    assert asked[0] == ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", resnet_url, "models")
    assert (f"ResNet50 ImageNet weights: could not download {resnet_url} (Exception: URL fetch failure: None -- "
            f"[Errno -2] Name or service not known). Download it on a machine with network access and put it at "
            f"{data / 'models' / 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5'}") in failure
    assert "data set images: image folder 'transfer_images' (test split): not found" in failure


def test_needed_reports_found_files_and_missing_messages(homes):
    data, _ = homes
    rubric = rubric_lib.load("transfer_learning")
    needed = {item.what: item for item in datasets.needed(rubric, data)}
    assert list(needed) == ["data set images (image-folder)"] + [
        f"{name} ImageNet weights ({file})" for name, file in rubric.pretrained_weights.items()]
    assert all(item.missing and not item.files for item in needed.values())
    vgg = needed[f"VGG16 ImageNet weights ({VGG16_FILE})"]
    assert vgg.target == data / "models" / VGG16_FILE and "Looked for" in vgg.missing


def test_blocks_of_the_applications_layer_names():
    """How the checks' table groups a base's layers: by the builders' names; InceptionV3's
    unnamed convolutions with the module they feed."""
    vgg = ["block1_conv1", "block1_conv2", "block2_conv1", "block5_conv3"]
    assert blocks(vgg) == {"block1_conv1": "block1", "block1_conv2": "block1", "block2_conv1": "block2",
                           "block5_conv3": "block5"}
    resnet = ["conv1_conv", "conv1_bn", "conv2_block1_1_conv", "conv2_block1_0_bn", "conv5_block3_3_conv"]
    assert list(blocks(resnet).values()) == ["conv1", "conv1", "conv2_block1", "conv2_block1", "conv5_block3"]
    inception = ["conv2d", "batch_normalization", "conv2d_5", "mixed0", "conv2d_12", "mixed9_0", "mixed9", "conv2d_93",
                 "mixed10"]
    assert list(blocks(inception).values()) == ["mixed0", "mixed0", "mixed0", "mixed0", "mixed9", "mixed9", "mixed9",
                                                "mixed10", "mixed10"]
    mobilenet = ["Conv1", "bn_Conv1", "expanded_conv_depthwise", "block_1_expand", "block_16_project_BN", "Conv_1",
                 "Conv_1_bn"]
    assert list(blocks(mobilenet).values()) == ["Conv1", "Conv1", "expanded_conv", "block_1", "block_16", "Conv_1",
                                                "Conv_1"]
