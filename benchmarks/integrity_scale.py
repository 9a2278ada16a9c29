"""The class's integrity comparison at scale. A benchmark, not a test: it prints figures.

    python benchmarks/integrity_scale.py [--students 300]

It writes the per-archive evidence a graded class leaves (grader/integrity/
evidence.py), in the stored format: for each student and each classifier part
of the rubric, a notebook of their own code (~80 lines of Keras made of
varied statements, after the instructor's starter cells, which are the base
files), the part's 10,000 recomputed test predictions (about 90% correct)
with the confusion matrix, and weight fingerprints of a 10-tensor model.
Five students copied another's notebooks with other names; five handed in
another's model after one more epoch. Then it times the class step that runs
after grading (grader.integrity.pairs.write_class_integrity: read every
record, fingerprint once per submission and part, index, compare the
candidates, the model statistics, pairs.json and the side-by-side pages),
and checks that exactly the planted pairs were found.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

STARTER = '''import numpy as np
import matplotlib.pyplot as plt
import keras
from keras import layers

def plot_history(history, metric="accuracy", title="training"):
    values = history.history[metric]
    validation = history.history["val_" + metric]
    epochs = range(1, len(values) + 1)
    plt.plot(epochs, values, "bo", label="training " + metric)
    plt.plot(epochs, validation, "b", label="validation " + metric)
    plt.title(title + ": " + metric)
    plt.legend()
    plt.savefig("results/" + title + "/" + metric + ".png")
'''

STATEMENTS = [
    "{v} = layers.Conv2D({a}, ({k}, {k}), activation='relu', padding='{pad}')({w})",
    "{v} = layers.MaxPooling2D(({p}, {p}))({w})",
    "{v} = layers.Dense({a}, activation='{act}')({w})",
    "{v} = layers.Dropout(0.{d})({w})",
    "{v} = layers.BatchNormalization()({w})",
    "{v} = {w}.reshape((-1, {a}, {b}, {c})).astype('float32') / {s}",
    "for {i} in range({a}):\n    print({i}, {w}[{i}], {v}[{i}])",
    "if {w}.shape[0] > {a}:\n    {v} = {w}[:{b}]\nelse:\n    {v} = {w}",
    "{v} = np.argmax({w}.predict({x}, batch_size={a}), axis=-1)",
    "{v}.compile(optimizer=keras.optimizers.{opt}(learning_rate={lr}), loss='{loss}', metrics=['accuracy'])",
    "{v} = {w}.fit({x}, {y}, epochs={a}, batch_size={b}, validation_split=0.{d})",
    "def {f}({w}, {x}={a}):\n    {v} = {w} * {x} + {b}\n    return {v} - {c}",
    "{v} = sum({w}[{i}] == {x}[{i}] for {i} in range({a})) / {b}",
    "{v} = [{w} for {w} in range({a}) if {w} % {b} == {c}]",
    "{v} = keras.Sequential([layers.Input(shape=({a}, {b}, {c})), layers.Flatten(), layers.Dense({s})])",
    "plt.figure(figsize=({a}, {b}))\nplt.imshow({w}[{c}])\nplt.title('{v} {a}')",
]
NAMES = ["model", "x", "y", "net", "data", "images", "labels", "history", "preds", "scores", "h", "z", "out",
         "inputs", "batch", "train", "test", "probs", "acc", "loss_value"]


def student_code(rng: random.Random, lines: int = 80) -> str:
    pieces = []
    for _ in range(lines):
        template = rng.choice(STATEMENTS)
        pieces.append(template.format(
            v=rng.choice(NAMES), w=rng.choice(NAMES), x=rng.choice(NAMES), y=rng.choice(NAMES),
            f=rng.choice(NAMES), i=rng.choice("ijk"), a=rng.randint(2, 600), b=rng.randint(2, 600),
            c=rng.randint(1, 64), k=rng.choice([3, 5, 7]), p=rng.choice([2, 3]), d=rng.randint(1, 9),
            s=rng.choice([255, 127.5, 256]), pad=rng.choice(["same", "valid"]),
            act=rng.choice(["relu", "softmax", "tanh", "elu"]), opt=rng.choice(["RMSprop", "Adam", "SGD"]),
            lr=rng.choice(["1e-3", "1e-4", "0.01", "2e-4"]),
            loss=rng.choice(["sparse_categorical_crossentropy", "categorical_crossentropy"])))
    return "\n".join(pieces)


def renamed(code: str, rng: random.Random) -> str:
    """A copy with other names: copydetect's normalisation sees through it."""
    import re

    mapping = {name: name + "_" + str(rng.randint(10, 99)) for name in NAMES}
    return re.sub(r"\b(" + "|".join(NAMES) + r")\b", lambda m: mapping[m.group(1)], code)


SHAPES = [(3, 3, 3, 32), (32,), (3, 3, 32, 64), (64,), (3, 3, 64, 128), (128,), (2048, 512), (512,), (512, 10), (10,)]


def fingerprints(rng: np.random.Generator, base: np.ndarray | None = None) -> tuple[np.ndarray, list[dict]]:
    projections = rng.standard_normal((len(SHAPES), 32)) if base is None else \
        base + 0.15 * rng.standard_normal(base.shape)
    return projections, [{"name": f"layer{i}/w", "shape": list(s), "stride": 1,
                          "norm": float(np.linalg.norm(p)), "projection": [round(float(v), 6) for v in p]}
                         for i, (s, p) in enumerate(zip(SHAPES, projections))]


def predictions(rng: np.random.Generator, truth: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
    if base is not None:
        predicted = base.copy()
        changed = rng.random(truth.size) < 0.03
        predicted[changed] = truth[changed]
        return predicted
    predicted = truth.copy()
    wrong = rng.random(truth.size) < rng.uniform(0.05, 0.15)
    predicted[wrong] = (truth[wrong] + rng.integers(1, 10, int(wrong.sum()))) % 10
    return predicted


def build_class(out: Path, students: int, parts: list[str], normalising: list[float],
                planted: int = 5) -> tuple[list[str], set]:
    """Evidence records for the class; returns the archive names and the planted pairs,
    and appends to ``normalising`` each archive's grading-time code normalisation, in s."""
    from grader.integrity import evidence as ev
    from grader.records import Student

    rng, nrng = random.Random(0), np.random.default_rng(0)
    truth = nrng.integers(0, 10, 10_000)
    archives = [f"assignment06_Student{n:03d}.zip" for n in range(students)]
    codes = {a: {p: student_code(rng) for p in parts} for a in archives}
    models = {}
    for archive in archives:
        models[archive] = {p: (fingerprints(nrng), predictions(nrng, truth)) for p in parts}
    expected = set()
    for n in range(planted):                       # code copied, other names
        source, copier = archives[n], archives[students - 1 - n]
        codes[copier] = {p: renamed(c, rng) for p, c in codes[source].items()}
        expected.add(frozenset((source, copier)))
    for n in range(planted, 2 * planted):          # a model trained one more epoch
        source, copier = archives[n], archives[students - 1 - n]
        (projection, _), predicted = models[source][parts[1]]
        models[copier][parts[1]] = (fingerprints(nrng, projection), predictions(nrng, truth, predicted))
        expected.add(frozenset((source, copier)))
    for n, archive in enumerate(archives):
        evidence = ev.Evidence(archive, Student(f"Student{n:03d}", "Test", source=archive))
        sources = [ev.SourceFile(f"{p}_notebook.ipynb", p, "# In[1]:\n" + STARTER + "\n\n# In[2]:\n"
                                 + codes[archive][p]) for p in parts]
        clock = time.perf_counter()
        evidence.code = ev.code_by_part(sources)      # done once per archive when it is graded
        normalising.append(time.perf_counter() - clock)
        for part in parts:
            (_, prints), predicted = models[archive][part]
            confusion = np.zeros((10, 10), dtype=int)
            np.add.at(confusion, (truth, predicted), 1)
            evidence.models[part] = ev.PartModel(predicted=predicted, correct=predicted == truth,
                                                 confusion=confusion.tolist(),
                                                 accuracy=float((predicted == truth).mean()), fingerprints=prints)
        path = ev.evidence_path(out, archive.removesuffix(".zip"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(ev.to_dict(evidence)))
    return archives, expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    args = parser.parse_args()
    from grader import rubric as rubric_module
    from grader.integrity.pairs import write_class_integrity

    rubric = rubric_module.load()
    parts = [p.id for p in rubric.parts if "model" in p.expects]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        starter = out / "starter.py"
        starter.write_text(STARTER)
        rubric = rubric.model_copy(update={"integrity": rubric.integrity.model_copy(update={"base": [str(starter)]})})
        started = time.monotonic()
        normalising: list[float] = []
        archives, expected = build_class(out, args.students, parts, normalising)
        print(f"wrote the evidence of {args.students} submissions x {len(parts)} parts in "
              f"{time.monotonic() - started:.1f} s (at grading, copydetect's normalisation of the code: "
              f"{1000 * sum(normalising) / len(normalising):.0f} ms per submission)")
        started, cpu = time.perf_counter(), time.process_time()
        data = write_class_integrity(out, rubric, archives)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        found = {frozenset((p["left"]["archive"], p["right"]["archive"])) for p in data["pairs"]}
        pairs = args.students * (args.students - 1) // 2
        print(f"compared {args.students} submissions ({pairs} pairs per part, {len(parts)} parts) in {seconds:.1f} s "
              f"wall, {cpu:.1f} s CPU "
              f"(the comparison itself {data['seconds']:.1f} s; the rest reading records and writing "
              f"{len(data['pairs'])} side-by-side pages)")
        print(f"pairs reported: {len(found)}; planted: {len(expected)}; missed: {len(expected - found)}; "
              f"extra: {len(found - expected)}")
    # The bound: a class of 300 in under a minute on 2 cores, and exactly the planted pairs.
    failures = (["not exactly the planted pairs"] if found != expected else []) \
        + ([f"{seconds:.1f} s, not under a minute"] if seconds >= 60 else [])
    if failures:
        raise SystemExit("FAILED: " + "; ".join(failures))


if __name__ == "__main__":
    main()
