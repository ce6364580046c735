"""The results contract: what ``sweeps`` writes and ``analysis`` and ``cluster`` read.

No torch and no Ray: every side of the house can import it.

- ``layout``: where results live (results root, ``$BIRIL_RESULTS``, ``biril.db``, study
  names ``<dataset>/<sweep>``, Tune folders);
- ``schema``: the study and trial attributes and metric keys a sweep writes;
- ``ratios``: when two stored ratios are the same ratio, and its ``a:b:c`` name;
- ``runs``: which trials count (full runs) and what each contributes;
- ``ranking``: the one best-ratio rule and how sure it is (``rank``, ``Best``);
- ``effect``: what STDP adds at a ratio, against its frozen control paired by seed;
- ``pareto``: the accuracy-versus-energy front;
- ``tdist``: Student's t without SciPy's import cost; ``errors``: ``StoreError``;
- ``database``: checking a database URL safely (masked passwords, foreign databases refused);
- ``store``: the one opener: ``--storage``/``--db`` to a ``Store``, opened as Optuna's storage
  (``optuna_storage``, the one module here that imports Optuna) or an SQLAlchemy engine.

Example::

    from results.ranking import rank
    ranking = rank(runs)          # runs: results.runs.Run, one per full run
    ranking.best.ratio_int, ranking.best.ci, ranking.best.vs_stbp, ranking.best.stdp_effect
"""
