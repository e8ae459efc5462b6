"""backpropvis: the library behind the book *Why gradient visualizations look interpretable in
untrained networks* (a reproduction of Nie, 2017).

Modules follow the paper's concepts, not the chapters:

* :mod:`.images`: photos, normalizations, edges
* :mod:`.patches`: the patches ``y_j = D_j x`` and the one padding rule
* :mod:`.streams`: the named random streams every weight is drawn from
* :mod:`.networks`: Eq. (1) (2-D and 1-D), Eq. (7), Eq. (1) with a max pool
* :mod:`.models`: trained and untrained ImageNet classifiers
* :mod:`.randomization`: deeper readouts and model randomization
* :mod:`.rules`: the backward rule ``h`` and the activation patch that applies it
* :mod:`.attribution`: the maps it gives (``backprop_map``, ``backprop_maps``), argument checks
  in :mod:`._checks`, size guards in :mod:`.guards`
* :mod:`.methods`, :mod:`.method_study`: attribution methods beyond the paper's three (chapter 7)
* :mod:`.sweeps`: nested sweeps over ``N`` and ``N_h``
* :mod:`.theory`: Eq. (2) and its limits (Eqs. 3-7); :mod:`.concentration`: how fast
* :mod:`.metrics`, :mod:`.attacks`, :mod:`.plotting`, :mod:`.explorer`
* :mod:`.book`, :mod:`.record`, :mod:`.verdicts`, :mod:`.params`: the book layer (glue, one
  record per chapter, the one verdict rule, papermill parameters)

The chapters import the facade module ``helpers``, which re-exports the public API by name.
"""
