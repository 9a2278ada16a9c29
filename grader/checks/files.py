"""Checks on what the student handed in: layout and plots."""

from __future__ import annotations

from grader.checks.registry import CheckContext, check
from grader.records import CheckResult, Role


@check("layout_complete")
def layout_complete(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """Every role the part expects has a file; points shared equally among roles."""
    expected = ctx.part.expects
    found = {role: ctx.layout.best(ctx.part.id, Role(role)) for role in expected}
    missing = [role for role, hit in found.items() if hit is None]
    unsure = [f"{hit.path} (as {role}, confidence {hit.confidence:.2f})"
              for role, hit in found.items() if hit is not None and hit.confidence < 0.7]
    score = points * (len(expected) - len(missing)) / len(expected)
    evidence = {role: (hit.path if hit else None) for role, hit in found.items()}
    if missing:
        fixes = "; ".join(p.message for p in ctx.part_problems(*(f"missing-{r}" for r in missing)))
        message = f"missing {', '.join(missing)}: {fixes}"
    else:
        message = f"all {len(expected)} expected files found"
    if unsure:
        message += f"; guessed from content or by elimination: {', '.join(unsure)}"
        evidence["guessed"] = unsure
    return CheckResult("layout_complete", score, points, not missing, message, evidence)


@check("plots_valid")
def plots_valid(ctx: CheckContext, points: float, params: dict) -> CheckResult:
    """Enough plots that open, are not blank, and are not another part's copy."""
    wanted = max(ctx.part.plots_min, int(params.get("min_plots", ctx.part.plots_min)))
    duplicates = {p.path for p in ctx.part_problems("duplicate-plot")}
    good, bad = [], []
    for plot in ctx.files.plots:
        if plot.error:
            bad.append(f"{plot.path}: unreadable")
        elif plot.info.blank:
            bad.append(f"{plot.path}: blank")
        elif plot.path in duplicates:
            bad.append(f"{plot.path}: a copy of another part's plot")
        else:
            good.append(plot.path)
    evidence = {"valid": good, "rejected": bad, "required": wanted}
    if wanted == 0:
        return CheckResult("plots_valid", points, points, True, "no plots required", evidence)
    # Enough usable plots earns the points; every rejected plot costs its share.
    score = points * min(len(good), wanted) / wanted * (len(good) / max(1, len(good) + len(bad)))
    passed = len(good) >= wanted and not bad
    if passed:
        message = f"{len(good)} valid plot(s)"
    elif not ctx.files.plots:
        message = (f"no validation plot found; save the training and validation curves as "
                   f"{ctx.part.canonical_path('plot')}")
    else:
        message = f"{len(good)} usable plot(s) ({wanted} required); rejected: {'; '.join(bad)}"
    return CheckResult("plots_valid", score, points, passed, message, evidence)
