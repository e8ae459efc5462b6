"""backpropvis: the library behind the book *Why gradient visualizations look interpretable in
untrained networks* (a reproduction of Nie, 2017), in layers, each importing only those below:

* :mod:`.core`: the paper's objects (photos, patches ``D_j``, the networks of Eqs. 1 and 7, the
  trained classifiers, the backward rule ``h`` and its maps, the theory, sweeps and measures);
* :mod:`.methods`: attribution methods, one registry entry each;
* :mod:`.studies`: experiments (class invariance, sanity metrics, model randomization, attacks,
  chapter 7's study, the explorer);
* :mod:`.claims`: the verdict rule and each chapter's judgements of the paper's claims;
* :mod:`.book`: glue, one record per chapter, papermill parameters, figures.

The chapters import the facade module ``helpers``, which re-exports each layer's ``__all__``.
"""
