"""`threatline report`: what the system did, and to whom, in figures a school board can read
(docs/accountability.md). Read (collect) → count (figures, equity) → suppress small counts
(suppress) → write (render). No post text, names or handles ever reach a report."""
