"""The model evaluation as a person reads it (the `model_evaluation` asset's table in the UI and
what `make demo` prints): every model's test AUC with its uncertainty, the fused model's margin,
its accuracy at the validation cut and the inference-time ablations."""

from __future__ import annotations

FUSED = "fused"  # the fused model's name among the compared scores


def evaluation_markdown(report: dict) -> str:
    """Every model's test AUC with its clustered bootstrap standard error, the fused model's margin
    over the best alternative, then the members' spread and the inference-time ablations."""
    task, comparison = report["primary_task"], report["test_comparison"]
    clusters = comparison["clusters"]
    lines = [
        f"{task} AUC on the test split: {comparison['rows']:,} entity-days, {comparison['positives']:,} positive, "
        f"{clusters['entity']} entities on {clusters['date']} dates (± = bootstrap standard error, resampling "
        "entities and dates)",
        "",
        "| model | test AUC | ± |",
        "|---|---|---|",
    ]
    for name, value in sorted(comparison["models"].items(), key=lambda item: -item[1]["auc"]):
        label = {FUSED: "fused model (ensemble)"}.get(
            name, name.replace("only_", "only ") + (" (trained alone)" if name.startswith("only_") else "")
        )
        lines.append(f"| {label} | {value['auc']:.4f} | {value['std_error']:.4f} |")
    margin = comparison["margin"]
    verdict = "distinguishable from zero" if margin["distinguishable_from_zero"] else "NOT distinguishable from zero"
    lines += [
        "",
        f"Margin of the fused model over the best alternative ({comparison['best_alternative']}): "
        f"{margin['margin']:+.4f} ± {margin['std_error']:.4f}, 95% interval [{margin['ci_low']:+.4f}, {margin['ci_high']:+.4f}]: {verdict}.",
    ]
    cut = report.get("cut_metrics", {}).get("test")
    if cut and task == "movement":  # a rare default's accuracy says little; movement's is the published figure
        lines += [
            "",
            f"At the cut fitted on validation the fused model's test accuracy is {cut['accuracy']:.4f} ± "
            f"{cut['accuracy_std_error']:.4f} and its MCC {cut['mcc']:+.4f} ± {cut['mcc_std_error']:.4f}; answering "
            f"the test split's majority class throughout scores {cut['majority_class_accuracy']:.4f} ± "
            f"{cut['majority_class_accuracy_std_error']:.4f} (same bootstrap).",
        ]
    lines += [
        "",
        "| fused model, other views | test AUC | std |",
        "|---|---|---|",
    ]
    member = report["model"]["members"].get(task, {}).get("auc", {})
    lines.append(
        f"| members (mean ± std over seeds) | {member.get('mean', float('nan')):.4f} | {member.get('std', float('nan')):.4f} |"
    )
    for m, value in report["ablation"]["only"].items():
        lines.append(f"| only {m} (inference) | {value['auc']:.4f} | |")
    for m, value in report["ablation"]["removed"].items():
        lines.append(f"| without {m} (inference) | {value['auc']:.4f} | |")
    return "\n".join(lines)
