"""devstack: what a combination's values ask devstack for, merged, and the local.conf for it.

    Matrix ──► settings (merge in axis order; conflicts; per node) ──► localconf (text)
                   ▲
               multinode (what devstack's devstack-multinode job gives a compute-only node)

`settings` merges the `devstack:` blocks of a combination's values, in axis order, into one
`DevstackSettings` per node (controller or subnode), each setting with the value it comes
from; two values that set the same thing differently are a `Conflict`, never last-wins
(`matrix validate` reports them at the combination's entry). `multinode` holds, in one place,
what a compute-only subnode runs and which of its files post-config may reach, after
devstack's own jobs. `localconf` renders settings as a devstack local.conf (`matrix
localconf`).
"""
