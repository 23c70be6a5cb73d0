"""vaecourse: the companion package of the VAE course.

One module per idea: :mod:`vaecourse.losses` (reconstruction terms and the
negative ELBO) and :mod:`vaecourse.distributions` (Gaussian sampling and KL
divergences). Every formula is the one shown in the book, and every function
is tested against an independent reference.
"""

from vaecourse import distributions, losses

__version__ = "0.1.0"
__all__ = ["distributions", "losses", "__version__"]
