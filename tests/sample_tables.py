"""Reading the tables of pipeline/samples/README.md, where the samples' author says what each
notable post is meant to be."""

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "pipeline" / "samples" / "README.md"


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """Cells of the first table after ``heading``; backticks stripped, header and rule skipped."""
    section = markdown.split(heading, 1)[1]
    rows, started = [], False
    for line in section.splitlines():
        if line.startswith("|"):
            started = True
            rows.append([cell.strip().strip("`").strip("*") for cell in line.strip().strip("|").split("|")])
        elif started:
            break
    return rows[2:]
