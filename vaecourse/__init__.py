"""vaecourse: the companion package of the VAE course.

One module per idea, each a handful of small, tested functions:

- :mod:`vaecourse.losses`: reconstruction terms and the negative ELBO;
- :mod:`vaecourse.distributions`: Gaussian sampling and KL divergences;
- :mod:`vaecourse.symbolic`: SymPy proofs of the book's identities;
- :mod:`vaecourse.linear_gaussian`: the linear-Gaussian model, in closed form;
- :mod:`vaecourse.gradients`: pathwise and score-function gradient estimators;
- :mod:`vaecourse.pca`: principal components and principal angles;
- :mod:`vaecourse.data`: MNIST and 8x8 digits, offline;
- :mod:`vaecourse.models`: autoencoders and the VAE;
- :mod:`vaecourse.loop`: the one training loop every trainer calls;
- :mod:`vaecourse.train`: the VAE and autoencoder trainers, and
  log-likelihood estimates;
- :mod:`vaecourse.plotting`: the book's figures;
- :mod:`vaecourse.selfcheck`: the exercises' reference checks;
- :mod:`vaecourse.source`: the package's source as the chapters print it;
- :mod:`vaecourse.sprites`: dSprites-like images on dSprites' factor grid;
- :mod:`vaecourse.metrics`: disentanglement metrics (beta-VAE, FactorVAE,
  MIG);
- :mod:`vaecourse.beta_vae`: beta-VAEs on the sprites: data, step, loop;
- :mod:`vaecourse.vq`: the VQ-VAE, its codebook and a PixelCNN prior;
- :mod:`vaecourse.darla`: DARLA's beta-VAE_DAE and transfer probes;
- :mod:`vaecourse.readouts`: each factor read from one latent unit, a
  transfer test that a rotation of the code fails;
- :mod:`vaecourse.pretrained`: shipped weights, and the command that
  remakes them.

Only the light modules are imported here; import the others explicitly
(``from vaecourse import symbolic``), so that ``import vaecourse`` does not
pay for SymPy or matplotlib.
"""

from vaecourse import distributions, losses
from vaecourse.source import show_source

__version__ = "0.1.0"
__all__ = ["distributions", "losses", "show_source", "__version__"]
