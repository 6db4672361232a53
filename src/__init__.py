"""Flight-delay experiment pipeline: one module per DVC stage (see dvc.yaml).

OpenMP threads (scikit-learn's gradient boosting) wait passively rather than spin.
With parallel experiments on a few cores, spinning threads of one process starve
another's (a fit measured at 0.5 s idle took 30 s beside a second one). This must be
set before scikit-learn loads the OpenMP runtime, hence here; the environment wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
