"""Theory: information quantities of joint tables and plug-in estimates from samples (:mod:`.info`), and the
exact check of every inequality of Theorem 3.2 (:mod:`.theorem`).

Stands beside the rest: imports numpy and the bottom modules (:mod:`umelib.files`, :mod:`umelib.provenance`)
only, nothing of datasets, models, training or experiments."""
