"""The models page for analysts and admins: every version with its held-out numbers, which one
is the champion, the history of promotions and rollbacks, each model card, and the PR-curve and
confusion plots training drew into each version's directory. Read-only:
retraining, promotion and rollback stay on the command line (docs/retraining.md), where the
promotion policy and its audit live."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from pipeline.nlp.registry import history, versions
from pipeline.retraining import describe_versions, models_dir
from pipeline.review.console.web import Problem, Viewer, console_of, protected_router, render, require_role

router = protected_router(prefix="/models", dependencies=[Depends(require_role("analyst", "admin"))])

# The only files the plot route serves (pipeline/nlp/train.py draws them), with their alt text.
PLOTS = {
    "pr_curve.png": "precision-recall curve of each head on the test split, with the P1, P2 and P3 operating points",
    "confusion.png": "confusion matrix of the categories on the test split (rows true, columns predicted)",
}


def plot_path(models: Path, version: str, name: str) -> Path | None:
    """The file of plot ``name`` of ``version``, or None. Built only from a version the registry
    lists and a name of PLOTS, never from a request as such, and it must still resolve inside
    that version's directory (no symlink out of it)."""
    if name not in PLOTS or version not in versions(models):
        return None
    path = (models / version / name).resolve()
    return path if path.is_file() and path.is_relative_to((models / version).resolve()) else None


def plots_of(models: Path, version: str) -> list[dict]:
    """The plots ``version``'s directory holds, for a template: name and alt text."""
    return [{"name": name, "alt": f"{version}: {alt}"} for name, alt in PLOTS.items() if plot_path(models, version, name)]


@router.get("")
async def model_list(request: Request, challenger: str | None = None,
                     viewer: Viewer = Depends(require_role("analyst", "admin"))):
    c = console_of(request)
    models = models_dir(c.rt.settings)
    rows, changes = await run_in_threadpool(lambda: (describe_versions(models), history(models)))
    await run_in_threadpool(c.audit, viewer, "view", None, page="models")
    heads = sorted({h for row in rows for h in row["pr_auc"]})
    # Plots of the champion beside one challenger: ?challenger=VERSION, else the newest other version.
    champion = next((r["version"] for r in rows if r["champion"]), None)
    others = [r["version"] for r in rows if not r["champion"]]
    picked = challenger if challenger in others else (others[-1] if others else None)
    shown = [(role, v) for role, v in (("Champion", champion), ("Challenger", picked)) if v is not None]
    plots = await run_in_threadpool(lambda: [{"role": role, "version": v, "plots": plots_of(models, v)} for role, v in shown])
    return render(request, "models.html", title="Models", rows=rows[::-1], heads=heads, changes=changes[::-1],
                  plots=plots)


@router.get("/{version}/plots/{name}")
async def model_plot(version: str, name: str, request: Request):
    """One plot of one version; the router's dependencies admit logged-in analysts and admins only."""
    path = await run_in_threadpool(plot_path, models_dir(console_of(request).rt.settings), version, name)
    if path is None:
        raise Problem(404, "No such plot", "That model version has no such plot.")
    # A released version is never overwritten, so its plots may be cached, by this browser only.
    return FileResponse(path, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})


@router.get("/{version}")
async def model_card(version: str, request: Request, viewer: Viewer = Depends(require_role("analyst", "admin"))):
    c = console_of(request)
    models = models_dir(c.rt.settings)
    # Only names the registry lists: the path never comes from the request as such.
    if version not in await run_in_threadpool(versions, models):
        raise Problem(404, "No such model version", "That version is not in the model registry.")
    card = await run_in_threadpool(lambda: (models / version / "model_card.md").read_text(encoding="utf-8"))
    plots = await run_in_threadpool(plots_of, models, version)
    await run_in_threadpool(c.audit, viewer, "view", None, page="model card", version=version)
    return render(request, "model_card.html", title=f"Model {version}", version=version, card=card, plots=plots)
