"""Declarations: what matrix/*.yaml and lab files say, checked and resolved.

The first stage of the data flow; nothing later runs on invalid input.

    file ──► yamlsource ──► model (pydantic) ──► references ──► loading ──► Matrix
             positions,     one file's shape,     ids across      every       (matrix)
             safe YAML      diagnostics           files           problem
                                                                  at once

`yamlsource` parses one file safely (regular files only, bounded: `harness.reading`) and
keeps the position of every node; `layout` says which files a matrix directory holds;
`model` is the schema of every file kind (and the source of `matrix schema`, via `schema`);
`diagnostics` turns pydantic's errors into located `problems`; `references` checks what
spans files; `expansion` is the GitHub Actions product/include/exclude of combinations;
`loading` runs it all and returns a `Matrix` (`matrix`) only when there is no problem, or
raises one `DeclarationError` with all of them. `applicability` says which features apply
to a combination, which are not applicable by design and which are flagged.
"""
