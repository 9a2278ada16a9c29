"""Model similarity across a class, from figures the sandbox returned.

Weights. The sandbox's runner fingerprints every weight tensor of a loaded
model (grader/evaluate/runtime/runner.py): its shape, its norm and a fixed
±1 random projection of its values to FINGERPRINT_DIMS numbers, the same
projection for every student. A random projection keeps cosines (Johnson-
Lindenstrauss): two copies of a model, or a copy trained one more epoch, or
re-saved as .h5, give a per-tensor cosine near 1; two models trained from
their own random initialisations give cosines near 0 (standard deviation
about 1/sqrt(FINGERPRINT_DIMS) = 0.18 per tensor, less for the median).
Models are compared when their lists of tensor shapes are equal (the same
architecture); the figure is the median of the per-tensor cosines.

Predictions. For two models of a part graded on the same test set, let W be
the number of test images both got wrong *with the same wrong label*. If the
two models erred independently given the true class, its expected value is

    E = sum over classes c of n_c * sum over wrong labels j of P1(j|c) P2(j|c),

with P(j|c) each model's own confusion-matrix rates. (With errors spread
evenly over the K-1 wrong labels this is n (1-a1)(1-a2)/(K-1), and the whole
agreement is a1 a2 + (1-a1)(1-a2)/(K-1).) W is then about Poisson(E); the
pair's p-value is P(X >= W), Bonferroni-corrected over the part's pairs.
Independent models are not fully independent: hard images are hard for
every model, so honest pairs also exceed E. A pair is therefore reported only
when the corrected p-value is below ``agreement_alpha`` *and* at least
``error_overlap`` of the fewer errors are shared with the same label, and W
is at least ``min_shared_errors``: a copy shares most of its mistakes, two
honest students share their hardest few.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from grader.integrity.evidence import PartModel


@dataclass
class WeightMatch:
    part: str
    left: int
    right: int
    median_cosine: float
    min_cosine: float
    tensors: int
    layer_cosines: list[tuple[str, list[int], float, float, float]] = field(default_factory=list)
    # (name, shape, cosine, norm left, norm right)


@dataclass
class AgreementMatch:
    part: str
    left: int
    right: int
    n: int
    accuracy: tuple[float, float]
    agreement: float                 # share of test images with the same predicted label
    expected_agreement: float        # a1 a2 + (1-a1)(1-a2)/(K-1)
    errors: tuple[int, int]
    shared_errors: int               # W: both wrong, same wrong label
    expected_shared: float           # E under independence given the true class
    z: float                         # (W - E) / sqrt(E)
    log10_p: float                   # log10 of the Poisson tail P(X >= W), before the correction
    pairs_tested: int

    @property
    def error_overlap(self) -> float:
        fewer = min(self.errors)
        return self.shared_errors / fewer if fewer else 0.0


# ----------------------------------------------------------------- weights


def architecture_key(model: PartModel) -> tuple | None:
    if not model.fingerprints:
        return None
    return tuple((tuple(f["shape"]), f["stride"]) for f in model.fingerprints)


def similar_weights(models: dict[int, PartModel], part: str, threshold: float) -> list[WeightMatch]:
    """Pairs of one part's models of the same architecture whose median
    per-tensor cosine is at least ``threshold``; vectorised per architecture."""
    groups: dict[tuple, list[int]] = {}
    for key, model in models.items():
        arch = architecture_key(model)
        if arch is not None:
            groups.setdefault(arch, []).append(key)
    matches = []
    for keys in groups.values():
        if len(keys) < 2:
            continue
        stack = np.array([[f["projection"] for f in models[k].fingerprints] for k in keys], dtype=np.float64)
        norms = np.linalg.norm(stack, axis=2, keepdims=True)
        unit = np.divide(stack, norms, out=np.zeros_like(stack), where=norms > 0)
        cosines = np.einsum("itd,jtd->ijt", unit, unit)          # (models, models, tensors)
        medians = np.median(cosines, axis=2)
        for i, j in zip(*np.nonzero(np.triu(medians >= threshold, k=1))):
            left, right = models[keys[i]], models[keys[j]]
            layers = [(str(a["name"]), list(a["shape"]), float(c), float(a["norm"]), float(b["norm"]))
                      for a, b, c in zip(left.fingerprints, right.fingerprints, cosines[i, j])]
            matches.append(WeightMatch(part, keys[i], keys[j], float(medians[i, j]), float(cosines[i, j].min()),
                                       len(layers), layers))
    return matches


# ------------------------------------------------------------- predictions


def poisson_log10_tail(observed: int, mean: float) -> float:
    """log10 P(X >= observed) for X ~ Poisson(mean), in log space (tiny tails stay finite)."""
    if observed <= 0:
        return 0.0
    if mean <= 0:
        return -math.inf
    if observed <= mean:   # most of the mass: one minus the lower sum
        lower = sum(math.exp(-mean + k * math.log(mean) - math.lgamma(k + 1)) for k in range(observed))
        return math.log10(max(1.0 - lower, 1e-300))
    first = -mean + observed * math.log(mean) - math.lgamma(observed + 1)
    total, term, k = 1.0, 1.0, observed
    while term > 1e-17 and k < observed + 100_000:   # terms shrink by mean / (k + 1) < 1
        k += 1
        term *= mean / k
        total += term
    return (first + math.log(total)) / math.log(10)


def _rates(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per true class: its count, and the wrong-label rates (diagonal zeroed)."""
    counts = confusion.sum(axis=1).astype(np.float64)
    rates = np.divide(confusion, counts[:, None], out=np.zeros(confusion.shape), where=counts[:, None] > 0)
    np.fill_diagonal(rates, 0.0)
    return counts, rates


def agreement_statistics(models: dict[int, PartModel], part: str, num_classes: int,
                         min_shared: int = 0, overlap: float = 0.0) -> list[AgreementMatch]:
    """The statistics for the pairs of one part's models scored on the same
    test set that share at least ``min_shared`` same-label errors, ``overlap``
    of the fewer (one matrix product per class label, not a loop over pairs)."""
    usable = [k for k, m in models.items() if m.predicted is not None and m.correct is not None
              and m.confusion is not None and np.asarray(m.confusion).shape == (num_classes, num_classes)]
    by_size: dict[int, list[int]] = {}
    for key in usable:
        by_size.setdefault(int(models[key].predicted.size), []).append(key)
    results = []
    for n, keys in by_size.items():
        if len(keys) < 2:
            continue
        predicted = np.stack([models[k].predicted for k in keys])
        wrong = ~np.stack([models[k].correct for k in keys])
        same = np.zeros((len(keys), len(keys)))
        shared_errors = np.zeros((len(keys), len(keys)))
        for label in range(num_classes):
            said = (predicted == label).astype(np.float32)
            erred = (said.astype(bool) & wrong).astype(np.float32)
            same += said @ said.T
            shared_errors += erred @ erred.T
        rates = []
        for key in keys:
            counts, wrong_rates = _rates(np.asarray(models[key].confusion, dtype=np.float64))
            rates.append((wrong_rates * np.sqrt(counts)[:, None]).ravel())
        rates = np.stack(rates)
        expected = rates @ rates.T
        accuracy = 1.0 - wrong.mean(axis=1)
        errors = wrong.sum(axis=1)
        tested = len(keys) * (len(keys) - 1) // 2
        fewer = np.minimum(errors[:, None], errors[None, :])
        worth = (shared_errors >= max(min_shared, 1)) & (shared_errors >= overlap * fewer) if min_shared \
            else np.ones_like(shared_errors, dtype=bool)
        for i, j in zip(*np.nonzero(np.triu(worth, k=1))):
            a1, a2 = float(accuracy[i]), float(accuracy[j])
            w, e = int(round(shared_errors[i, j])), float(expected[i, j])
            results.append(AgreementMatch(
                part, keys[i], keys[j], n, (a1, a2), float(same[i, j]) / n,
                a1 * a2 + (1 - a1) * (1 - a2) / max(num_classes - 1, 1),
                (int(errors[i]), int(errors[j])), w, e,
                (w - e) / math.sqrt(e) if e > 0 else (math.inf if w else 0.0),
                poisson_log10_tail(w, e), tested))
    return results


def far_beyond_chance(match: AgreementMatch, alpha: float, overlap: float, min_shared: int) -> bool:
    corrected = match.log10_p + math.log10(max(match.pairs_tested, 1))
    return (match.shared_errors >= min_shared and corrected < math.log10(alpha)
            and match.error_overlap >= overlap)
