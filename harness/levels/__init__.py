"""Levels: the DefCore-style "known to work" rating of every feature x combination cell.

`compute` judges each cell's evidence by the policy in matrix/levels.yaml: every criterion
of the policy is judged by its function in `criteria` (with the runs behind it), their
weights add up to a score, and the cell gets the first ladder level whose needs and
min_score are met; otherwise `failing` (the latest valid result failed) or `unknown`.
`n/a` comes from the declarations, never from evidence. `LevelMatrix` is what `matrix
levels`, `matrix check` and `matrix publish` all read.
"""
