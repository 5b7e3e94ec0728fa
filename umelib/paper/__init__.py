"""What exists because of the paper and the book: the paper's numbers (:mod:`.reference`), each chapter's
experiments and the paper's method lists (:mod:`.chapters`), claims and verdicts (:mod:`.claims`), the results
page (:mod:`.overview`), tables and plots (:mod:`.report`, :mod:`.display`, :mod:`.vl`, :mod:`.avtables`), the
model-based Gamma estimates (:mod:`.complementary`), UME-MMA in plain PyTorch (:mod:`.scratch`) and the mechanism
experiments (:mod:`.mechanism`).

Top layer: may import everything below it (the runner in :mod:`umelib.experiments` included); nothing below
imports it (the CLI only inside ``reproduce``). The only place for pandas, matplotlib, seaborn and IPython, each
imported on use."""
