"""The models page for analysts and admins: every version with its held-out numbers, which one
is the champion, the history of promotions and rollbacks, and each model card. Read-only:
retraining, promotion and rollback stay on the command line (docs/retraining.md), where the
promotion policy and its audit live."""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from pipeline.nlp.registry import history, versions
from pipeline.retraining import describe_versions, models_dir
from pipeline.review.console.web import Problem, Viewer, console_of, protected_router, render, require_role

router = protected_router(prefix="/models", dependencies=[Depends(require_role("analyst", "admin"))])


@router.get("")
async def model_list(request: Request, viewer: Viewer = Depends(require_role("analyst", "admin"))):
    c = console_of(request)
    models = models_dir(c.rt.settings)
    rows, changes = await run_in_threadpool(lambda: (describe_versions(models), history(models)))
    await run_in_threadpool(c.audit, viewer, "view", None, page="models")
    heads = sorted({h for row in rows for h in row["pr_auc"]})
    return render(request, "models.html", title="Models", rows=rows[::-1], heads=heads, changes=changes[::-1])


@router.get("/{version}")
async def model_card(version: str, request: Request, viewer: Viewer = Depends(require_role("analyst", "admin"))):
    c = console_of(request)
    models = models_dir(c.rt.settings)
    # Only names the registry lists: the path never comes from the request as such.
    if version not in await run_in_threadpool(versions, models):
        raise Problem(404, "No such model version", "That version is not in the model registry.")
    card = await run_in_threadpool(lambda: (models / version / "model_card.md").read_text(encoding="utf-8"))
    await run_in_threadpool(c.audit, viewer, "view", None, page="model card", version=version)
    return render(request, "model_card.html", title=f"Model {version}", version=version, card=card)
