"""model_card.md, rendered from metrics.json so the card can never disagree with the numbers."""

from __future__ import annotations

from pipeline.nlp.evaluate import format_table


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.2f}" if whole else "–"


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _num(value) -> str:
    return "–" if value is None else f"{value:g}" if float(value).is_integer() else f"{value:.4f}"


def render_card(version: str, m: dict) -> str:
    heads, corpus = m["test"]["heads"], m["corpus"]
    thresholds = m["thresholds"]
    parts = [f"# threatline model card — {version}", "",
             "## Intended use", "",
             "Triage of public posts and tip-line messages for a school district's safety team: threat of "
             "violence toward others, self-harm and bullying, with school relevance from the district "
             "gazetteer. A flag is a request for a trained person to look, never a finding about a student. "
             "Self-harm goes to the counselor on duty, never to police as a threat. Not for discipline, "
             "profiling or any automated action. English only; other languages are scored with low confidence.", "",
             "## Data", "",
             f"Our own template corpus (docs/datasheet.md): {corpus['rows']} posts from {corpus['families']} "
             f"template families, split by family into train {corpus['per_split']['train']}, validation "
             f"{corpus['per_split']['validation']}, test {corpus['per_split']['test']}"
             + (f", plus {m['retrain']['labels']['trained_on']} cases labeled by analysts (training only; see "
                "Retraining)" if "retrain" in m else "") + ". Thresholds were chosen on "
             "validation; every number below is on the test split, which no fitting step saw.", "",
             "## Thresholds (calibrated probability)", "",
             _table(["head", "P1", "P2", "P3"], [[h, *(_fmt(t[k]) for k in ("P1", "P2", "P3"))] for h, t in thresholds.items()]), "",
             "## Test metrics per head", "",
             "Precision/recall at each threshold: an item counts as flagged by that head when its score reaches it.", "",
             _table(["head", "n", "positives", "ROC-AUC", "PR-AUC", "P/R at P1", "P/R at P2", "P/R at P3"], format_table(heads)), "",
             *_routed_section(heads),
             "Category confusion on the test split (rows true, columns predicted): see `confusion.png`; "
             "precision-recall curves with the operating points: `pr_curve.png`.", "",
             _table(["true \\ predicted", *m["test"]["confusion"]["labels"]],
                    [[label, *row] for label, row in zip(m["test"]["confusion"]["labels"], m["test"]["confusion"]["matrix"])]), ""]
    rows = [("this model", m["test"]["triage"])]
    if "baseline" in m:
        b = m["baseline"]
        rows.append((f"keyword baseline ({b['version']})", b["triage"]))
    parts += ["## Triage on the test split, against the keyword baseline", "",
              "Concerning = labelled threat, self-harm or bullying; the rest are mostly hard negatives "
              "(idioms, games, sports, lyrics, news, reports, counter-speech). Alert = P1 or P2.", "",
              _table(["scorer", "concerning flagged", "concerning alerted", "negatives flagged", "negatives alerted",
                      "alert precision"],
                     [[name, f"{t['concerning_flagged']}/{t['concerning']}", f"{t['concerning_alerted']}/{t['concerning']}",
                       f"{t['negatives_flagged']}/{t['negatives']}", f"{t['negatives_alerted']}/{t['negatives']}",
                       _ratio(t["concerning_alerted"], t["concerning_alerted"] + t["negatives_alerted"])]
                      for name, t in rows])]
    if "baseline" in m:
        parts += ["", f"Keyword baseline threat ROC-AUC {_fmt(m['baseline']['threat']['roc_auc'])}, "
                      f"PR-AUC {_fmt(m['baseline']['threat']['pr_auc'])}."]
    parts.append("")
    if "functional" in m:
        base = m.get("baseline", {}).get("functional", {})
        parts += ["## Functional suite (tests/functional, hand-written, independent of the corpus)", "",
                  _table(["capability", "passed", "total", "pass rate", "keyword baseline"],
                         [[c, r["passed"], r["total"], f"{r['rate']:.0%}",
                           f"{base[c]['rate']:.0%}" if c in base else "–"] for c, r in m["functional"].items()]), ""]
    if "external_validation" in m:
        e = m["external_validation"]
        parts += ["## External validation", "",
                  f"ROC-AUC of `threat_score` on {e['dataset']} (ThreatGram101 development split, CC BY 4.0; "
                  f"label 2 = violent threat, {e['positives']} of {e['n']}): **{_fmt(e['roc_auc'])}**, PR-AUC "
                  f"{_fmt(e['pr_auc'])}. Political anger on Telegram, not school posts: a check on generalisation, "
                  "not a target; its text is never committed or needed.", ""]
    if "real_world" in m:
        parts += _real_world_section(m["real_world"])
    if "speed" in m:
        s = m["speed"]
        parts += ["## Speed (bench/classify.py, one core)", "",
                  f"{s['posts']} mixed posts: {s['model_posts_per_s']:,.0f} posts/s vs the keyword baseline "
                  f"{s['baseline_posts_per_s']:,.0f} posts/s; per-post cost {s['cost_ratio']:.1f}x the baseline "
                  "(start-up excluded).", ""]
    if "retrain" in m:
        parts += _retrain_section(m["retrain"])
    parts += ["## Known failure modes", "",
              "- Trained on our own templates: phrasing far from them (long rants, heavy slang we did not "
              "write, sarcasm without markers) is less reliable; reviewers' labels are the way to close gaps.",
              "- Evidence first (models from v3 on): a page needs a located statement (config/evidence.yaml, "
              "docs/nlp.md §4b). A threat in a shape the grammar does not know ('line up the whole team and "
              "shoot them one by one') reaches the review queue at most, however sure the score; new shapes "
              "and reviewers' labels close such gaps.",
              "- A threat framed as a joke, quote, game, song or story in the same sentence is capped at P3 "
              "unless the writer takes the frame back ('not joking', 'it's gonna be me'); a determined "
              "author can still hide behind a frame in the same sentence.",
              "- Reports of someone else's threat are P3 for posts by rule, not by model; for tips P2, or P1 with two or more specifics.",
              "- School relevance depends on the gazetteer: a nickname missing from config/schools.yaml is invisible.",
              "- No understanding of images, links or conversation history.",
              "- A post that repeats one word hundreds of times ('ok ok ok …') can reach the bullying review "
              "queue (P3): the n-gram weights never saw spam.",
              "- Political anger outside schools (the external set) is a weak spot: calls for executions "
              "are learned from our own families only, and the set counts calls for military tribunals and "
              "detention as threats, which we label as non-violent punishment.", ""]
    return "\n".join(parts)


def _routed_section(heads: dict) -> list[str]:
    """Where the verdicts route each head's positives: the numbers a counselor or an SRO feels,
    and what the promotion policy gates on besides PR-AUC and recall at P2."""
    if not all("routed" in h for h in heads.values()):
        return []  # measured before evidence-first routing was gated
    names = list(dict.fromkeys(name for h in heads.values() for name in h["routed"]))
    return ["Routed: of each head's positives, the share whose verdict sends them where they belong "
            "(its category, paged at P1, at P1 or P2, or for bullying, which never pages, flagged at all).", "",
            _table(["head", *names], [[h, *(_fmt(m["routed"].get(n)) if n in m["routed"] else "–" for n in names)]
                                      for h, m in heads.items()]), ""]


def _real_world_section(r: dict) -> list[str]:
    """Ordinary posts, every one presumed to page nobody: what an officer on duty would feel."""
    rows = []
    for name in ("model", "baseline"):
        if name in r:
            s = r[name]
            rows.append([name, s["n"], s["pages_per_10k"],
                         ", ".join(f"{c} {v}" for c, v in s["pages_by_category_per_10k"].items()) or "–",
                         s["p1_per_10k"], s["review_per_10k"]])
    parts = ["## Real-world validation: ordinary posts", "",
             f"{r['dataset']}: ordinary public posts, none labelled; every page is a false alarm until a person "
             "reads it. Measured through the classify stage's path (targets: at most 5 pages and 150 review "
             "items per 10,000). bench/realworld.py prints the same for the champion, a challenger and the "
             "keyword baseline in one run; `threatline eval --unlabeled` does it on a district's own posts.", "",
             _table(["scorer", "posts", "pages / 10k", "pages by category / 10k", "P1 / 10k", "review (P3) / 10k"], rows), ""]
    if r.get("model", {}).get("top_cues_behind_pages"):
        parts += ["Cues most often behind its pages: " + ", ".join(
            f"`{c}` ({n})" for c, n in r["model"]["top_cues_behind_pages"]) + ".", ""]
    return parts


def _retrain_section(r: dict) -> list[str]:
    labels, decision = r["labels"], r["decision"]
    champion = decision["champion"]
    read = f"{labels['cases']} labeled cases read, {labels['unique_texts']} distinct texts"
    if labels["duplicates"]:
        read += (f"; {labels['duplicates']} duplicates, {labels['conflicting_duplicates']} with a different label "
                 "(the console's label beats a file's, then the latest wins)")
    read += f". Trained on {labels['trained_on']}: {labels['new_texts']} new texts"
    if labels["relabeled_corpus_texts"]:
        read += (f" and {labels['relabeled_corpus_texts']} corpus training texts relabeled "
                 f"({labels['changed_corpus_labels']} with a different label)")
    read += "."
    if labels["held_out_skipped"]:
        read += (f" {labels['held_out_skipped']} matched held-out corpus texts and were left out, so the test split "
                 f"stays fixed and unseen; {labels['held_out_disagreements']} of them disagree with the corpus label "
                 "(templates to check).")
    parts = ["## Retraining with analysts' labels", "", read + " Label mapping: docs/retraining.md.", "",
             _table(["label", "cases trained on"], [[k, v] for k, v in labels["by_label"].items()] or [["–", 0]]), "",
             "By origin: " + (", ".join(f"{k} {v}" for k, v in labels["by_origin"].items()) or "none") + ".", ""]
    if champion is None:
        parts += ["No champion to compare with.", ""]
    else:
        parts += [f"### Against the champion {champion} (same test split, same functional suite)", "",
                  _table(["check", "this model", champion, "allowed drop (rise for pages)", "ok"],
                         [[c["what"], _num(c["challenger"]), _num(c["champion"]),
                           "any" if c["allowed_drop"] is None else _num(c["allowed_drop"]),
                           "yes" if c["ok"] else "**no**"]
                          for c in decision["checks"]]), ""]
    shadow = r.get("shadow")
    if shadow:
        parts += [f"### Shadow run: the district's own posts, last {shadow['days']} days", "",
                  f"{shadow['posts']} posts the classify stage scored (read back from the bus, within retention; "
                  f"{shadow['background']} of those nobody flagged were trained on as background negatives, "
                  f"weight {shadow['weight']}). What each model would have done with them:", "",
                  _table(["model", "pages / 10k", "pages by category / 10k", "review (P3) / 10k"],
                         [[name, s["pages_per_10k"],
                           ", ".join(f"{c} {v}" for c, v in s["pages_by_category_per_10k"].items()) or "–",
                           s["review_per_10k"]] for name, s in (("this model", shadow["challenger"]),
                                                                 (champion or "champion", shadow["champion"]))
                          if s is not None]), ""]
    parts += [f"**Warning:** {w}" for w in r.get("warnings", [])] + ([""] if r.get("warnings") else [])
    lost = r.get("functional_regressions") or {}
    if lost:
        parts += [f"Functional cases {champion} passes and this model fails:", "",
                  *[f"- {c}: " + "; ".join(f"`{t}`" for t in texts) for c, texts in lost.items()], ""]
    verdict = "passes" if decision["passed"] else "refuses"
    action = {"auto": "promote if the policy passes", "never": "evaluate only", "force": "force promotion"}[r["promote"]]
    parts += ["### Promotion decision", "",
              f"The policy (pipeline/nlp/promotion.py) **{verdict}** this model:", "",
              *[f"- {reason}" for reason in decision["reasons"]], "",
              f"Requested: {action} (`--promote {r['promote']}`)" + (f" by {r['by']}" if r.get("by") else "")
              + ". Every change of champion is in models/promotions.jsonl and the audit index.", ""]
    return parts
